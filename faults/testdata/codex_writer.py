#!/usr/bin/env python3
"""A Codex-CLI-style writer of auth.json for credpool's fault tests.

Codex writes its auth.json in place: open with O_TRUNC, write, close, and no
lock. This script does that with a pause in the middle, so that the file is
empty and then half-written for as long as the test wants.

Protocol on stdin/stdout, one line each, repeated until stdin ends:
  stdin  "<content-path> [<fraction>]"
                           the exact bytes to write this round, and how much of
                           them to write before the pause (default 0.5; 0
                           leaves the file empty during the pause)
  stdout "half"            the file now holds that first part, truncated
  stdin  "rest"            the test has looked; finish the write
  stdout "done ok" | "done clobbered: <why>"

Before writing the second half it checks that nobody wrote over the half file
meanwhile: auth.json must still be the inode it opened (an atomic rename by
another process would replace it) and must still hold exactly the half.
"""

import os
import sys


def main():
    path = sys.argv[1]
    for line in sys.stdin:
        fields = line.split()
        if not fields:
            continue
        fraction = float(fields[1]) if len(fields) > 1 else 0.5
        with open(fields[0], "rb") as f:
            content = f.read()
        half = int(len(content) * fraction)
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        try:
            os.write(fd, content[:half])
            print("half", flush=True)
            if sys.stdin.readline().strip() != "rest":
                return
            problems = []
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    problems.append("auth.json was replaced during the pause")
                with open(path, "rb") as f:
                    now = f.read()
                if now != content[:half]:
                    problems.append("auth.json changed during the pause (%d bytes, wrote %d)" % (len(now), half))
            except OSError as e:
                problems.append("auth.json unreadable during the pause: %s" % type(e).__name__)
            os.write(fd, content[half:])
        finally:
            os.close(fd)
        print("done " + ("ok" if not problems else "clobbered: " + "; ".join(problems)), flush=True)


if __name__ == "__main__":
    main()
