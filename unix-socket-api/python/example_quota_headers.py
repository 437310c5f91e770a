#!/usr/bin/env python3
"""Rotation before the wall: an agent loop that feeds credpool the rate-limit
headers of every answer, against a fake OpenAI-compatible provider.

The fake provider (the rotation example's http.server on 127.0.0.1, a random
port) gives every key a
budget of --rpm requests per minute and answers, as OpenAI does, with
x-ratelimit-limit-requests, x-ratelimit-remaining-requests and
x-ratelimit-reset-requests (a Go-style duration such as "59.5s") on every
answer, 200s included, and 429 with Retry-After once a key's budget is spent.
The loop reports every answer with its headers (cred.observe on a success,
cred.fail on an error); credpool sees "0 remaining" on a 200 and hands out
the next key, so no call ever meets a 429. When every key is spent, select
says when the first budget is back instead of handing out a key that would
fail.

With the OpenAI SDK the loop is the same, with raw-response headers:

    raw = openai.OpenAI(api_key=cred.token).chat.completions.with_raw_response.create(...)
    cred.observe(raw.status_code, raw.headers)
    completion = raw.parse()

Run it against a running daemon (two throw-away keys in a pool "quotademo"):

    for k in one two; do echo "sk-quotademo-$k" | credpool add quotademo --label "$k"; done
    python3 example_quota_headers.py quotademo
    credpool status quotademo                 # "out of budget until reset in ..."

Keys are never printed: only their labels and ids.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from credpool_client import Client, CredpoolError, NoCredentialAvailable  # noqa: E402
from example_openai_rotation import FakeProvider, chat  # noqa: E402


class BudgetProvider(FakeProvider):
    """The rotation example's fake /v1/chat/completions, with a per-key
    budget of rpm requests a minute instead of scripted failures, counted
    in fixed windows that start with a key's first request."""

    def __init__(self, rpm):
        super().__init__()
        self.rpm = rpm
        self.answers = {}  # status -> count
        self._windows = {}  # key -> (window start (monotonic), requests in it)

    def answer(self, key):
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= 60:
                start, used = now, 0
            reset = "%.3fs" % max(0.0, 60 - (now - start))
            if used >= self.rpm:
                status, remaining = 429, 0
            else:
                used += 1
                status, remaining = 200, self.rpm - used
            self._windows[key] = (start, used)
            self.answers[status] = self.answers.get(status, 0) + 1
        headers = {"x-ratelimit-limit-requests": str(self.rpm),
                   "x-ratelimit-remaining-requests": str(remaining),
                   "x-ratelimit-reset-requests": reset,
                   "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "29950",
                   "x-ratelimit-reset-tokens": "100ms", "x-request-id": "req_demo"}
        if status == 429:
            headers["retry-after"] = str(int(60 - (now - start)) + 1)
            return status, headers, {"error": {"type": "requests", "code": "rate_limit_exceeded",
                                               "message": "Rate limit reached for requests per min"}}
        return status, headers, {
            "id": "chatcmpl-demo", "object": "chat.completion", "model": "demo-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pool", nargs="?", default="quotademo")
    ap.add_argument("--socket", help="daemon socket (default $CREDPOOL_SOCKET or the standard path)")
    ap.add_argument("--rpm", type=int, default=3, help="requests per minute per key at the fake provider")
    args = ap.parse_args(argv)

    client = Client(args.socket)
    try:
        keys = len(client.pool(args.pool)["entries"])
    except CredpoolError as err:
        print("error: %s" % err, file=sys.stderr)
        return 1
    calls = keys * args.rpm + 1  # one more than the budgets hold
    print("pool %r: %d keys, %d requests/min each; %d calls" % (args.pool, keys, args.rpm, calls))
    with BudgetProvider(args.rpm) as provider:
        for n in range(1, calls + 1):
            try:
                with client.credential(args.pool, model="demo-model") as cred:
                    status, headers, body = chat(provider.url, cred.token, "hi")
                    if status < 400:
                        res = cred.observe(status, headers)
                    else:
                        res = cred.fail(status, body, headers=headers)
                    nxt = res.next["label"] if res.next else None
                    print("call %d: key %s -> %d, %s of %s requests left; next: %s" % (
                        n, cred.label, status, headers.get("x-ratelimit-remaining-requests"),
                        headers.get("x-ratelimit-limit-requests"), nxt))
            except NoCredentialAvailable as err:
                print("call %d: every key is out of budget; the first is back in %.0f s" % (n, err.retry_after_s))
    errors = provider.answers.get(429, 0)
    if errors:
        print("the provider answered %d times with a rate-limit error" % errors)
        return 1
    print("%d calls served, rotated before any 429" % provider.answers.get(200, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
