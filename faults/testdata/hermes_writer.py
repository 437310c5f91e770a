#!/usr/bin/env python3
"""A Hermes-style writer of auth.json for credpool's fault tests.

It changes the file the way Hermes does: fcntl.flock(LOCK_EX) on auth.lock in
the same directory, read the JSON, change it, write a temp file in the same
directory, fsync, os.replace over auth.json, unlock.

Each operation adds, removes or re-tokens one entry of one pool (default
"faults"). Two bookkeeping keys at the top level let every writer, and the Go
test, check the daemon between operations:

  x_faults_seq       the number of operations made by all writers so far;
  x_faults_expected  the ids that the writers' operations left in the pool.

Both are unknown to credpool, so it must keep them verbatim; a daemon that
wrote an old snapshot over the file would roll them back (a repeated seq), and
a daemon that lost or resurrected an entry would make the pool disagree with
x_faults_expected (a "violation" line).

Every operation is logged as one JSON line, written and flushed while the lock
is still held, so that a reader holding the lock sees a log that matches the
file. Only the standard library is used.

Every token it writes starts with TOKEN_PREFIX, as the Go tests' tokens do
(tokenPrefix in helpers_test.go): its SECRET marker lets them find a leak of
any token in the daemon's log or answers.
"""

import argparse
import datetime
import fcntl
import json
import os
import random
import sys
import tempfile
import time

TOKEN_PREFIX = "sk-faults-SECRET-"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Writer:
    def __init__(self, args):
        self.args = args
        self.path = args.auth
        self.dir = os.path.dirname(os.path.abspath(args.auth))
        self.lock_path = os.path.join(self.dir, "auth.lock")
        self.rng = random.Random(args.seed if args.seed is not None else os.getpid())
        self.log = open(args.log, "a", encoding="utf-8")
        self.counter = 0
        self.retokens = 0

    def emit(self, rec):
        rec["writer"] = self.args.writer
        rec["t"] = time.time()
        self.log.write(json.dumps(rec, sort_keys=True) + "\n")
        self.log.flush()

    def lock(self):
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def write_doc(self, doc):
        data = json.dumps(doc, indent=2).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".auth.json.hermes-", dir=self.dir)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def new_id(self):
        # "f" + writer digit + 4 hex digits: 6 hex chars like Hermes ids, and
        # never one of the fixture's ids.
        self.counter += 1
        return "f%x%04x" % (self.args.writer % 16, self.counter)

    def one_op(self, only=None):
        """One locked read-modify-write. Returns False when the file could
        not be read (logged, nothing written)."""
        fd = self.lock()
        try:
            if self.args.hold:
                # Tell the test we hold the lock, then keep it until told.
                print("locked", flush=True)
                sys.stdin.readline()
            try:
                with open(self.path, "rb") as f:
                    raw = f.read()
                doc = json.loads(raw)
            except (OSError, ValueError) as e:
                self.emit({"op": "read_error", "error": type(e).__name__})
                return False
            pools = doc.setdefault("credential_pool", {})
            entries = pools.setdefault(self.args.pool, [])
            seq = int(doc.get("x_faults_seq", 0))
            expected = set(doc.get("x_faults_expected", []))
            ids = [e.get("id") for e in entries]
            if len(ids) != len(set(ids)) or set(ids) != expected:
                self.emit({"op": "violation", "seq": seq,
                           "missing": sorted(expected - set(ids)),
                           "extra": sorted(set(ids) - expected),
                           "duplicates": sorted({i for i in ids if ids.count(i) > 1})})

            op = only
            if op is None:
                r = self.rng.random()
                if len(entries) < self.args.min_entries or r < 0.4:
                    op = "add"
                elif r < 0.7:
                    op = "remove"
                else:
                    op = "retoken"
            rec = {"op": op}
            if op == "add":
                eid = self.new_id()
                token = TOKEN_PREFIX + "%s-t0" % eid
                entries.append({
                    "id": eid,
                    "label": "w%d-%d" % (self.args.writer, self.counter),
                    "auth_type": "api_key",
                    "priority": len(entries),
                    "source": "manual",
                    "access_token": token,
                    "last_status": None,
                    "last_status_at": None,
                    "last_error_code": None,
                    "last_error_reason": None,
                    "last_error_message": None,
                    "last_error_reset_at": None,
                    "base_url": "https://faults.example.invalid/v1",
                    "request_count": 0,
                    "x_writer": self.args.writer,
                })
                expected.add(eid)
                rec.update(id=eid, token=token)
            elif op == "remove":
                victim = self.rng.choice(entries)
                entries.remove(victim)
                expected.discard(victim["id"])
                rec.update(id=victim["id"])
            elif op == "retoken":
                victim = self.rng.choice(entries)
                self.retokens += 1
                token = TOKEN_PREFIX + "%s-w%d-r%d" % (victim["id"], self.args.writer, self.retokens)
                # Like a re-login: new tokens, status left as it was.
                victim["access_token"] = token
                rec.update(id=victim["id"], token=token, old_status=victim.get("last_status"))
            seq += 1
            doc["x_faults_seq"] = seq
            doc["x_faults_expected"] = sorted(expected)
            doc["updated_at"] = now_iso()
            self.write_doc(doc)
            rec["seq"] = seq
            self.emit(rec)
            return True
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def run(self):
        deadline = time.monotonic() + self.args.seconds
        done = 0
        while time.monotonic() < deadline:
            if self.args.stop_file and os.path.exists(self.args.stop_file):
                break
            if self.args.ops and done >= self.args.ops:
                break
            if self.one_op(self.args.only):
                done += 1
            if self.args.sleep_ms:
                time.sleep(self.rng.uniform(0, self.args.sleep_ms) / 1000.0)
        self.log.close()
        print("done %d" % done, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--auth", required=True, help="path of auth.json")
    p.add_argument("--log", required=True, help="JSON-lines log of operations")
    p.add_argument("--writer", type=int, default=0, help="writer number (0-15)")
    p.add_argument("--pool", default="faults", help="provider key to churn")
    p.add_argument("--seconds", type=float, default=8.0, help="run at most this long")
    p.add_argument("--ops", type=int, default=0, help="stop after this many operations (0 = no limit)")
    p.add_argument("--only", choices=["add", "remove", "retoken"], help="make only this operation")
    p.add_argument("--stop-file", help="stop once this file exists")
    p.add_argument("--sleep-ms", type=float, default=10.0, help="random pause between operations, up to this")
    p.add_argument("--min-entries", type=int, default=4, help="add while the pool has fewer entries")
    p.add_argument("--seed", type=int)
    p.add_argument("--hold", action="store_true",
                   help="after taking the lock print 'locked' and wait for a line on stdin")
    Writer(p.parse_args()).run()


if __name__ == "__main__":
    main()
