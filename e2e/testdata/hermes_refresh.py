#!/usr/bin/env python3
"""One Hermes process that wants to refresh the openai-codex login, for the
stampede test.

It loads the pool, prints "ready", waits for a line on stdin (the moment the
test lets every party go at once), refreshes, and prints one JSON line:
{"access_sha": sha256 of the access token it ends with (never the token),
"error": null or what went wrong}.

Two ways, same protocol:

  hermes_refresh.py real HERMES_SRC TOKEN_URL
      The real Hermes pool code (agent.credential_pool), run from HERMES_SRC.
      Its Codex token URL is pointed at TOKEN_URL (the fake stands for
      auth.openai.com); everything else is Hermes as it is. A select of a
      pool whose access token is within Hermes' 120 s skew refreshes it:
      flock auth.lock, re-read providers.openai-codex.tokens, adopt a peer's
      pair or POST, write back the row and the singleton.

  hermes_refresh.py script TOKEN_URL
      A script that does what Hermes does, for machines without the Hermes
      code: flock auth.lock (and write its PID into it), re-read the row and
      the singleton, POST only if the row still holds the refresh token this
      process started with, write the new pair into the row and the
      singleton (temp file, os.replace), empty auth.lock, unlock.

HERMES_HOME must name the directory of auth.json.
"""

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PROVIDER = "openai-codex"
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"


def sha(s):
    return hashlib.sha256((s or "").encode()).hexdigest()


def wait_for_go():
    print("ready", flush=True)
    sys.stdin.readline()


def real(src, token_url):
    sys.path.insert(0, src)
    import agent.credential_pool as cp
    import hermes_cli.auth as auth

    auth.CODEX_OAUTH_TOKEN_URL = token_url
    pool = cp.load_pool(PROVIDER)
    wait_for_go()
    entry = pool.select()
    if entry is None:
        return {"access_sha": None, "error": "hermes selected nothing"}
    return {"access_sha": sha(entry.access_token), "error": None}


def script(token_url):
    home = os.environ["HERMES_HOME"]
    path = os.path.join(home, "auth.json")
    lock_path = os.path.join(home, "auth.lock")
    with open(path) as f:
        doc = json.load(f)
    row = doc["credential_pool"][PROVIDER][0]
    started_with = row["refresh_token"]
    wait_for_go()
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            with open(path) as f:
                doc = json.load(f)
            row = next(e for e in doc["credential_pool"][PROVIDER] if e.get("source") == "device_code")
            singleton = doc["providers"][PROVIDER]["tokens"]
            if row.get("refresh_token") != started_with or singleton.get("refresh_token") != started_with:
                # A peer rotated while we waited: adopt, send nothing.
                return {"access_sha": sha(singleton.get("access_token") or row.get("access_token")), "error": None}
            body = urllib.parse.urlencode({
                "grant_type": "refresh_token", "refresh_token": started_with, "client_id": CLIENT_ID,
            }).encode()
            req = urllib.request.Request(token_url, data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                                  "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=20) as resp:
                    answer = json.load(resp)
            except urllib.error.HTTPError as exc:
                return {"access_sha": None, "error": "token endpoint answered %d" % exc.code}
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            for target in (row, singleton):
                target["access_token"] = answer["access_token"]
                target["refresh_token"] = answer.get("refresh_token") or started_with
            row["last_refresh"] = now
            doc["providers"][PROVIDER]["last_refresh"] = now
            fd, tmp = tempfile.mkstemp(prefix=".auth-", suffix=".tmp", dir=home)
            with os.fdopen(fd, "w") as out:
                json.dump(doc, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            return {"access_sha": sha(answer["access_token"]), "error": None}
        finally:
            lock.seek(0)
            lock.truncate()
            lock.flush()
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def main(argv):
    if argv[1] == "real":
        out = real(argv[2], argv[3])
    elif argv[1] == "script":
        out = script(argv[2])
    else:
        raise SystemExit("unknown mode %r" % argv[1])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv)
