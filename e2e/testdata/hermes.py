#!/usr/bin/env python3
"""Change auth.json the way Hermes does, from another process.

Hermes takes fcntl.flock(LOCK_EX) on auth.lock beside auth.json, reads the
file, changes it, writes a temp file in the same directory and os.replace()s
it over auth.json. This script does exactly that, so the e2e tests see what a
re-login "in another terminal" looks like to the daemon.

Usage:
  hermes.py tokens AUTH PROVIDER ACCESS REFRESH   re-login: providers.P.tokens
  hermes.py row AUTH PROVIDER ID ACCESS REFRESH    re-login: the entry's own row
  hermes.py churn AUTH PROVIDER N                  N writes that add an entry
      each and remove every second one added; prints {"kept": [...],
      "removed": [...]} as JSON
"""

import fcntl
import json
import os
import sys
import tempfile
import time


def update(path, change):
    lock_path = os.path.join(os.path.dirname(path), "auth.lock")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            with open(path) as f:
                doc = json.load(f)
            change(doc)
            doc["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
            fd, tmp = tempfile.mkstemp(prefix=".auth-", suffix=".tmp", dir=os.path.dirname(path))
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump(doc, out, indent=2)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def entry(doc, provider, entry_id):
    for e in doc["credential_pool"][provider]:
        if e.get("id") == entry_id:
            return e
    raise SystemExit("no entry %s in %s" % (entry_id, provider))


def main(argv):
    cmd = argv[1]
    if cmd == "tokens":
        _, _, path, provider, access, refresh = argv

        def change(doc):
            tokens = doc["providers"][provider].setdefault("tokens", {})
            tokens["access_token"] = access
            tokens["refresh_token"] = refresh
            doc["providers"][provider]["last_refresh"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        update(path, change)
    elif cmd == "row":
        _, _, path, provider, entry_id, access, refresh = argv

        def change(doc):
            e = entry(doc, provider, entry_id)
            e["access_token"] = access
            e["refresh_token"] = refresh

        update(path, change)
    elif cmd == "churn":
        _, _, path, provider, n = argv
        kept, removed = [], []
        for i in range(int(n)):
            new_id = "%06x" % (0xE00000 + i)

            def change(doc, i=i, new_id=new_id):
                entries = doc["credential_pool"].setdefault(provider, [])
                entries.append({
                    "id": new_id, "label": "hermes-%d" % i, "auth_type": "api_key",
                    "priority": len(entries), "source": "manual",
                    "access_token": "sk-SECRET-e2e-churn-%d" % i, "request_count": 0,
                    "x_hermes_only": {"i": i},
                })
                if i % 2 == 1:
                    gone = "%06x" % (0xE00000 + i - 1)
                    doc["credential_pool"][provider] = [e for e in entries if e.get("id") != gone]

            update(path, change)
            if i % 2 == 1:
                removed.append("%06x" % (0xE00000 + i - 1))
            kept.append(new_id)
        kept = [k for k in kept if k not in removed]
        print(json.dumps({"kept": kept, "removed": removed}))
    else:
        raise SystemExit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
