#!/usr/bin/env python3
"""A stale Hermes session, for credpool's stale-writer tests.

A Hermes agent loads one provider's pool when its session starts and keeps
that copy for its whole life. On each mark it writes its copy back with
write_credential_pool: under fcntl.flock on auth.lock it reads auth.json,
replaces every row whose id it holds with its own copy (a copy that has only
the row keys Hermes knows: the rest are dropped), keeps disk rows whose ids
it does not hold, and writes the file atomically (temp file created 0600 with
O_EXCL, fsync, os.replace, fsync of the directory).

This script does that, with the same field list and the same layout as
Hermes (json.dumps(indent=2) plus a newline), so that the Go tests can make
credpool meet a session that loaded the pool before credpool changed it. It
writes its pid into auth.lock while it holds the lock and empties it on
release, as newer Hermes does. Only the standard library is used.

Usage: stale_hermes.py AUTH PROVIDER [--clock-offset SECONDS]

It loads the pool at once, prints {"loaded": [ids]} and then reads one JSON
command per line on stdin, answering each with one JSON line on stdout:

  {"op": "mark", "id": ID, "code": 429, "reason": R, "message": M}
      what mark_exhausted_and_rotate does to the entry (DEAD for a 401 with a
      terminal reason), then write the snapshot
  {"op": "reset"}     reset_statuses: clear every status, then write
  {"op": "persist"}   write the snapshot as it is (a round-robin rotation or
                      a priority change writes it just like this)
  {"op": "exit"}

--clock-offset makes this session's clock run that many seconds ahead of
the real one, as on a machine with a wrong clock.
"""

import argparse
import datetime
import fcntl
import json
import os
import stat
import sys
import time
import uuid

# The row keys Hermes' PooledCredential knows (its dataclass fields, and the
# extra keys it round-trips). Every other key of a row is dropped when the
# session writes its copy back.
FIELDS = [
    "id", "label", "auth_type", "priority", "source", "access_token",
    "refresh_token", "last_status", "last_status_at", "last_error_code",
    "last_error_reason", "last_error_message", "last_error_reset_at",
    "base_url", "expires_at", "expires_at_ms", "last_refresh",
    "inference_base_url", "agent_key", "agent_key_expires_at", "request_count",
]
EXTRA_KEYS = [
    "token_type", "scope", "client_id", "portal_base_url", "obtained_at",
    "expires_in", "agent_key_id", "agent_key_expires_in", "agent_key_reused",
    "agent_key_obtained_at", "tls", "secret_source", "secret_fingerprint",
]
ALWAYS_EMIT = {
    "last_status", "last_status_at", "last_error_code", "last_error_reason",
    "last_error_message", "last_error_reset_at",
}
DEFAULTS = {"auth_type": "api_key", "priority": 0, "source": "manual", "access_token": "", "request_count": 0}
TERMINAL = {"token_invalidated", "token_revoked", "invalid_token", "invalid_grant",
            "unauthorized_client", "refresh_token_reused"}


def parse_time(value):
    """Hermes' _parse_absolute_timestamp, for last_status_at read as text."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v <= 0:
            return None
        return v / 1000.0 if v > 1_000_000_000_000 else v
    raw = str(value).strip()
    try:
        v = float(raw)
        return v / 1000.0 if v > 1_000_000_000_000 else v
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def from_row(row):
    """A row as PooledCredential.from_dict holds it."""
    c = {k: row.get(k) for k in FIELDS}
    for k, v in DEFAULTS.items():
        if k not in row:
            c[k] = v
    if isinstance(c.get("last_status_at"), str):
        c["last_status_at"] = parse_time(c["last_status_at"])
    c["_extra"] = {k: row[k] for k in EXTRA_KEYS if row.get(k) is not None}
    return c


def to_row(c):
    """PooledCredential.to_dict: known fields only, None dropped except the status fields."""
    out = {}
    for k in FIELDS:
        v = c.get(k)
        if v is not None or k in ALWAYS_EMIT:
            out[k] = v
    out.update(c["_extra"])
    return out


class Session:
    def __init__(self, path, provider, clock_offset):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.lock_path = os.path.join(self.dir, "auth.lock")
        self.provider = provider
        self.offset = clock_offset
        self.entries = []

    def now(self):
        return time.time() + self.offset

    def load_store(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return {"version": 1, "providers": {}}
        doc.setdefault("providers", {})
        return doc

    def load(self):
        # read_credential_pool reads without the lock: writers rename
        # whole files into place.
        rows = self.load_store().get("credential_pool", {}).get(self.provider, [])
        self.entries = sorted((from_row(r) for r in rows if isinstance(r, dict)), key=lambda c: c["priority"])

    def lock(self):
        # _file_lock: open "a+", poll LOCK_EX|LOCK_NB every 50 ms.
        f = open(self.lock_path, "a+", encoding="utf-8")
        deadline = time.monotonic() + 15
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise TimeoutError("Timed out waiting for auth store lock")
                time.sleep(0.05)
        f.truncate(0)
        f.write("%d\n" % os.getpid())
        f.flush()
        return f

    def unlock(self, f):
        f.truncate(0)
        f.flush()
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()

    def save_store(self, doc):
        doc["version"] = 1
        doc["updated_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        payload = json.dumps(doc, indent=2) + "\n"
        tmp = os.path.join(self.dir, "auth.json.tmp.%d.%s" % (os.getpid(), uuid.uuid4().hex))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as h:
            h.write(payload)
            h.flush()
            os.fsync(h.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def write_pool(self):
        """write_credential_pool(provider, [e.to_dict() for e in entries])."""
        rows = [to_row(c) for c in self.entries]
        f = self.lock()
        try:
            doc = self.load_store()
            pools = doc.get("credential_pool")
            if not isinstance(pools, dict):
                pools = {}
                doc["credential_pool"] = pools
            mine = {r.get("id") for r in rows}
            merged = list(rows)
            for d in pools.get(self.provider, []) or []:
                if isinstance(d, dict) and d.get("id") and d.get("id") not in mine:
                    merged.append(d)
            pools[self.provider] = merged
            self.save_store(doc)
        finally:
            self.unlock(f)

    def entry(self, eid):
        for c in self.entries:
            if c["id"] == eid:
                return c
        raise SystemExit("no entry %s in the snapshot" % eid)

    def mark(self, cmd):
        c = self.entry(cmd["id"])
        code = cmd.get("code")
        reason = cmd.get("reason")
        dead = code == 401 and isinstance(reason, str) and reason.strip().lower() in TERMINAL
        c.update(last_status="dead" if dead else "exhausted", last_status_at=self.now(),
                 last_error_code=code, last_error_reason=reason,
                 last_error_message=cmd.get("message"), last_error_reset_at=None)

    def reset(self):
        for c in self.entries:
            for k in ALWAYS_EMIT:
                c[k] = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("auth")
    ap.add_argument("provider")
    ap.add_argument("--clock-offset", type=float, default=0.0)
    a = ap.parse_args()
    s = Session(a.auth, a.provider, a.clock_offset)
    s.load()
    print(json.dumps({"loaded": [c["id"] for c in s.entries]}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "exit":
            break
        if op == "mark":
            s.mark(cmd)
        elif op == "reset":
            s.reset()
        elif op != "persist":
            raise SystemExit("unknown op %r" % op)
        s.write_pool()
        print(json.dumps({"written": op}), flush=True)


if __name__ == "__main__":
    main()
