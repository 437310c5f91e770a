#!/usr/bin/env python3
"""Rotation through a credpool pool against a fake OpenAI-compatible provider.

The example starts a local fake provider (http.server on 127.0.0.1, a random
port) that answers the first key it sees with 429, the second with
401 {"error": {"code": "token_invalidated"}}, and the third with 200. It makes
chat-completion calls with urllib using keys from credpool, reports each
failure, and prints the rotation, the DEAD marking and the pool's status.

Run it against a running daemon (three throw-away keys in a pool "demo"):

    credpool daemon &                                # or: credpool service start
    for k in one two three; do echo "sk-demo-$k" | credpool add demo --label "$k"; done
    python3 example_openai_rotation.py demo          # or: CREDPOOL_EXAMPLE_POOL=demo
    credpool status demo                             # the same marks, from the CLI
    credpool reset demo                              # make the keys usable again

The socket comes from --socket, else $CREDPOOL_SOCKET, else the default path.
Keys are never printed: only their labels and ids. The marks are real: the
429'd key cools down and the 401'd key is DEAD until you `credpool reset` it.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from credpool_client import Client, CredpoolError, NoCredentialAvailable  # noqa: E402


class FakeProvider:
    """An OpenAI-compatible /v1/chat/completions that fails the first two keys
    it sees (429, then 401 token_invalidated) and serves the rest."""

    def __init__(self):
        self._seen = []  # keys in order of first appearance
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                key = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
                status, headers, body = provider.answer(key)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep the example's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v1" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, key):
        with self._lock:
            if key and key not in self._seen:
                self._seen.append(key)
            n = self._seen.index(key) if key in self._seen else -1
        if n == 0:
            return 429, {"Retry-After": "120"}, {"error": {
                "type": "rate_limit_exceeded", "code": "rate_limit_exceeded",
                "message": "Rate limit reached for requests"}}
        if n == 1:
            return 401, {}, {"error": {
                "type": "invalid_request_error", "code": "token_invalidated",
                "message": "Your authentication token has been invalidated. Please try signing in again."}}
        if n < 0:
            return 401, {}, {"error": {"code": "missing_api_key", "message": "no key"}}
        return 200, {}, {
            "id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
            "model": "demo-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello from the fake provider!"}}],
        }

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        return False


def chat(base_url, token, prompt):
    """One chat completion with urllib: (status, headers, body bytes)."""
    req = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps({"model": "demo-model", "messages": [{"role": "user", "content": prompt}]}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def fmt_time(t):
    if t is None:
        return "-"
    return "%s (in %ds)" % (time.strftime("%H:%M:%S", time.localtime(t)), max(0, round(t - time.time())))


def print_pool(pool):
    print("\npool %s (strategy %s): %d available" % (pool["provider"], pool["strategy"], pool["available"]))
    print("  %-8s %-12s %-10s %-22s %s" % ("ID", "LABEL", "STATUS", "UNTIL", "LAST ERROR"))
    for e in pool["entries"]:
        last = "-"
        if e.get("last_error_code"):
            last = "%s %s" % (e["last_error_code"], e.get("last_error_reason") or "")
        print("  %-8s %-12s %-10s %-22s %s" % (e["id"], (e.get("label") or "")[:12], e["status"].upper(),
                                                 fmt_time(e.get("until")), last))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pool", nargs="?", default=os.environ.get("CREDPOOL_EXAMPLE_POOL", "demo"),
                    help="pool (provider key) to draw from (default $CREDPOOL_EXAMPLE_POOL or 'demo')")
    ap.add_argument("--socket", help="daemon socket (default $CREDPOOL_SOCKET or the standard path)")
    ap.add_argument("--attempts", type=int, default=5)
    args = ap.parse_args(argv)

    client = Client(args.socket)
    try:
        health = client.health()
        pool = client.pool(args.pool)
    except CredpoolError as err:
        print("error: %s" % err, file=sys.stderr)
        return 1
    print("credpool %s at %s, pool %r with %d entries" % (
        health.get("version"), client.socket_path, args.pool, len(pool["entries"])))

    ok = False
    with FakeProvider() as provider:
        print("fake provider at %s\n" % provider.url)
        for attempt in range(1, args.attempts + 1):
            try:
                with client.credential(args.pool) as cred:
                    print("attempt %d: key %s (%s)" % (attempt, cred.id, cred.label))
                    status, headers, body = chat(provider.url, cred.token, "Say hello")
                    if status == 200:
                        answer = json.loads(body)["choices"][0]["message"]["content"]
                        print("  200 OK: %s" % answer)
                        ok = True
                        break
                    res = cred.fail(status, body, retry_after=headers.get("Retry-After"))
                    marked, nxt = res.get("marked"), res.get("next")
                    reason = json.loads(body).get("error", {}).get("code")
                    if marked:
                        print("  %d %s -> %s marked %s%s" % (
                            status, reason, marked["id"], marked["status"].upper(),
                            ", until %s" % fmt_time(marked["until"]) if marked.get("until") else ""))
                    else:
                        print("  %d %s -> nothing marked" % (status, reason))
                    if nxt:
                        print("  next: %s (%s)" % (nxt["id"], nxt.get("label")))
            except NoCredentialAvailable as err:
                print("no credential available: retry in %s s" % err.retry_after_s)
                break
        else:
            print("gave up after %d attempts" % args.attempts)

    print_pool(client.pool(args.pool))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
