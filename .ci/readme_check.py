#!/usr/bin/env python3
"""Runs every ```sh block of README.md, in order, as a new user would.

A block preceded by `<!-- ci: background -->` is started in the background
(the daemon); `<!-- ci: skip (why) -->` blocks are covered elsewhere and the
reason says where. Everything runs in a throw-away HOME, so the user's own
pool is never touched. Exits non-zero on the first failing block.
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
text = open(os.path.join(root, "README.md"), encoding="utf-8").read()

blocks = []  # (mode, code)
pending = "run"
lines = text.splitlines()
i = 0
while i < len(lines):
    line = lines[i]
    m = re.match(r"<!--\s*ci:\s*(\w+)", line.strip())
    if m:
        pending = m.group(1)
    elif line.startswith("```"):
        lang = line[3:].strip()
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        if lang == "sh":
            blocks.append((pending, "\n".join(lines[i + 1:j])))
        pending = "run"
        i = j
    elif line.strip():
        pending = "run" if not line.startswith("<!--") else pending
    i += 1

home = tempfile.mkdtemp(prefix="cpreadme")
# Keep Go's caches where they are: a new HOME would otherwise mean a cold
# module download and a full rebuild.
goenv = {k: subprocess.run(["go", "env", k], capture_output=True, text=True).stdout.strip()
         for k in ("GOPATH", "GOMODCACHE", "GOCACHE")}
env = {k: v for k, v in os.environ.items() if not k.startswith("CREDPOOL") and k != "HERMES_HOME"}
gobin = os.path.join(home, "bin")
env.update(goenv)
env.update(HOME=home, XDG_RUNTIME_DIR=os.path.join(home, "run"),
           XDG_CONFIG_HOME=os.path.join(home, "config"), GOBIN=gobin,
           PATH=gobin + os.pathsep + env.get("PATH", ""))
os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
sock = os.path.join(env["XDG_RUNTIME_DIR"], "credpool", "credpool.sock")

background = []
failed = False
try:
    for n, (mode, code) in enumerate(blocks, 1):
        first = code.strip().splitlines()[0] if code.strip() else ""
        if mode == "skip":
            print(f"--- block {n} skipped (covered elsewhere): {first}")
            continue
        print(f"--- block {n} ({mode}): {first}", flush=True)
        if mode == "background":
            p = subprocess.Popen(["bash", "-c", code], cwd=root, env=env, start_new_session=True)
            background.append(p)
            deadline = time.time() + 120  # go run compiles first
            while not os.path.exists(sock):
                if p.poll() is not None or time.time() > deadline:
                    sys.exit(f"background block {n} did not bring up {sock}")
                time.sleep(0.1)
            continue
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=root, env=env, timeout=300)
        if r.returncode != 0:
            print(f"README block {n} failed with exit {r.returncode}:\n{code}", file=sys.stderr)
            failed = True
            break
finally:
    for p in background:
        os.killpg(p.pid, signal.SIGTERM)
        # Wait for the whole group (go run's child is the daemon, which
        # drains its writes into HOME before it exits), then remove HOME.
        deadline = time.time() + 20
        while time.time() < deadline:
            p.poll()
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    shutil.rmtree(home, ignore_errors=True)
print(f"{len(blocks)} README blocks: " + ("FAILED" if failed else "all ran or are covered elsewhere"))
sys.exit(1 if failed else 0)
