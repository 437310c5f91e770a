#!/usr/bin/env python3
"""Reads `go test -json` on stdin, passes the test output through, and fails
when a test was skipped in CI.

A test that skips because a tool is missing passes whatever the code does,
so in CI (where .ci/run installed every tool) a skip is a failure, unless
it is listed in ALLOWED with the reason it cannot run on a CI machine.
"""
import json
import re
import sys

# (package suffix, test name regexp, skip message regexp, why a CI machine
# may not be able to run it)
ALLOWED = [
    ("e2e", r".", r"the Hermes checkout .* is missing",
     "the Hermes snapshot is not a package: CI has it only where shared/ is laid beside the clone"),
]

skipped = []  # (package, test, reason)
output = {}   # (package, test) -> lines
failed = False
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        sys.stdout.write(line)
        continue
    pkg, test, action = ev.get("Package", ""), ev.get("Test", ""), ev.get("Action")
    if action == "build-output":
        sys.stdout.write(ev.get("Output", ""))
    elif action == "build-fail":
        failed = True
    elif action == "output":
        text = ev.get("Output", "")
        if test:
            output.setdefault((pkg, test), []).append(text)
        # Package summaries and failures as go test prints them.
        if not test or text.startswith(("--- FAIL", "    --- FAIL", "panic:", "FAIL")):
            sys.stdout.write(text)
    elif action == "fail":
        failed = True
        if test:
            sys.stdout.write("".join(output.get((pkg, test), [])))
    elif action == "skip" and test:
        lines = [l.strip() for l in "".join(output.get((pkg, test), [])).splitlines()]
        why = [l for l in lines if l and not l.startswith(("--- ", "=== "))]
        skipped.append((pkg, test, why[-1] if why else ""))

unexpected = []
for pkg, test, why in skipped:
    if any(pkg.endswith(p) and re.search(t, test) and re.search(r, why) for p, t, r, _ in ALLOWED):
        continue
    unexpected.append((pkg, test, why))
print("\n%d tests skipped, %d of them allowed in CI" % (len(skipped), len(skipped) - len(unexpected)))
for pkg, test, why in unexpected:
    print("  skipped in CI: %s %s: %s" % (pkg, test, why))
if failed:
    sys.exit(1)
if unexpected:
    print("a test that skips in CI proves nothing: install what it needs in .ci/run, or list it in .ci/skips.py with why")
    sys.exit(1)
