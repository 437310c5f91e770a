#!/usr/bin/python3
"""Drive the real Hermes pool code (the snapshot in shared/hermes) against
the auth.json in $HERMES_HOME, for credpool's interop tests.

Usage (HERMES_SRC names the snapshot; tokens come on stdin, never argv):
  hermes_pool.py read PROVIDER        print read_credential_pool(PROVIDER) as JSON
  hermes_pool.py reset PROVIDER       reset as newer Hermes' `hermes auth reset`
      writes it: every row's status cleared and status_cleared_at set, under
      Hermes' own _auth_store_lock / _load_auth_store / _save_auth_store
  hermes_pool.py mark PROVIDER CODE   load_pool(PROVIDER), then
      mark_exhausted_and_rotate(status_code=CODE, api_key_hint=<stdin>): a
      Hermes session's mark, which rewrites every row of the provider from
      its own snapshot; prints the id it rotated to
"""

import json
import os
import sys
import time

sys.path.insert(0, os.environ["HERMES_SRC"])

import agent.credential_pool as credential_pool  # noqa: E402
import hermes_cli.auth as auth  # noqa: E402

STATUS_FIELDS = ("last_status", "last_status_at", "last_error_code", "last_error_reason",
                 "last_error_message", "last_error_reset_at")


def main(argv):
    cmd, provider = argv[1], argv[2]
    if cmd == "read":
        print(json.dumps(auth.read_credential_pool(provider)))
    elif cmd == "reset":
        with auth._auth_store_lock():
            store = auth._load_auth_store()
            now = time.time()
            for row in store["credential_pool"][provider]:
                for k in STATUS_FIELDS:
                    row[k] = None
                row["status_cleared_at"] = now
            auth._save_auth_store(store)
        print(json.dumps({"status_cleared_at": now}))
    elif cmd == "mark":
        pool = credential_pool.load_pool(provider)
        hint = sys.stdin.read().strip()
        nxt = pool.mark_exhausted_and_rotate(status_code=int(argv[3]), api_key_hint=hint)
        print(json.dumps({"next": nxt.id if nxt else None}))
    else:
        raise SystemExit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
