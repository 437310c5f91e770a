#!/usr/bin/env python3
"""Drive the real Hermes pool code (a checkout given by --hermes) as a session
that loaded its pool before credpool changed it.

The Go test runs it with HERMES_HOME set to the directory of the daemon's
auth.json and HOME pointing at a scratch directory, and no *_API_KEY in the
environment, so that Hermes seeds nothing of its own. It calls only Hermes'
public pool functions: load_pool, CredentialPool.mark_exhausted_and_rotate,
reset_statuses and select. Every write is therefore Hermes' own
write_credential_pool.

Protocol (the same as stale_hermes.py): it prints {"loaded": [ids]} once the
pool is loaded, then reads one JSON command per line on stdin and answers
each with one JSON line:

  {"op": "mark", "id": ID, "code": 429, "reason": R, "message": M}
      mark_exhausted_and_rotate with the entry's own key as api_key_hint
  {"op": "reset"}    reset_statuses
  {"op": "select"}   select (a round-robin or a cleared cooldown writes)
  {"op": "exit"}

No token is read from or written to the pipes: the entry is named by id.
--clock-offset makes this session's time.time() run ahead of the real one.
"""

import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hermes", required=True, help="the Hermes checkout")
    ap.add_argument("--clock-offset", type=float, default=0.0)
    ap.add_argument("provider")
    a = ap.parse_args()
    if a.clock_offset:
        real = time.time
        time.time = lambda: real() + a.clock_offset
    sys.path.insert(0, a.hermes)
    import agent.credential_pool as cp  # noqa: E402 (the path is set above)

    pool = cp.load_pool(a.provider)
    print(json.dumps({"loaded": [e.id for e in pool.entries()]}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "exit":
            break
        out = {"done": op}
        if op == "mark":
            hint = next(e.runtime_api_key for e in pool.entries() if e.id == cmd["id"])
            ctx = {k: cmd[k] for k in ("reason", "message") if cmd.get(k)}
            nxt = pool.mark_exhausted_and_rotate(status_code=cmd["code"], error_context=ctx, api_key_hint=hint)
            out["next"] = nxt.id if nxt else None
        elif op == "reset":
            out["count"] = pool.reset_statuses()
        elif op == "select":
            e = pool.select()
            out["id"] = e.id if e else None
        else:
            raise SystemExit("unknown op %r" % op)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
