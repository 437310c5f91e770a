"""Tests of credpool_client against the real daemon binary.

Run from this directory:  python3 -m unittest -v test_credpool_client
The binary comes from $CREDPOOL_BIN, or is built with `go build` from the
repository. Each test uses its own pool, so they do not depend on order.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import credpool_client as cp  # noqa: E402

# Pools of the test auth.json: name -> number of entries.
POOLS = {
    "openrouter": 3, "rot": 3, "deadpool": 3, "cooling": 2, "onlydead": 1,
    "leases": 2, "auto": 4, "demo": 3, "admin": 2,
    "quota": 2, "anthropic": 2, "failhdr": 2, "autohdr": 2, "sole": 1, "solelong": 1, "quotademo": 2,
}

# What a provider's answer carries besides its rate limits: none of it may
# reach the daemon.
PRIVATE_HEADERS = {"Set-Cookie": "session=SECRETCOOKIE", "Authorization": "Bearer sk-SECRET-hdr",
                   "X-Request-Id": "req_123", "Openai-Organization": "org-private"}


def openai_headers(remaining, reset="6m0s", limit=500):
    """An OpenAI answer's headers, as the API sends them."""
    h = {"X-RateLimit-Limit-Requests": str(limit), "X-RateLimit-Remaining-Requests": str(remaining),
         "X-RateLimit-Reset-Requests": reset, "X-RateLimit-Limit-Tokens": "30000",
         "X-RateLimit-Remaining-Tokens": "29000", "X-RateLimit-Reset-Tokens": "2ms"}
    h.update(PRIVATE_HEADERS)
    return h


def token(pool, i):
    return "sk-test-%s-%d-secretvalue" % (pool, i)


def auth_doc():
    pools, n = {}, 0
    for name, count in POOLS.items():
        entries = []
        for i in range(count):
            n += 1
            e = {"id": "%06x" % (0xa00000 + n), "label": "%s-%d" % (name, i), "auth_type": "api_key",
                 "priority": i, "source": "manual", "access_token": token(name, i)}
            if name == "openrouter" and i == 0:
                e.update(auth_type="oauth", refresh_token="rt-must-never-leave-the-daemon")
            entries.append(e)
        pools[name] = entries
    return {"version": 1, "credential_pool": pools}


_build = {}


def daemon_binary():
    """$CREDPOOL_BIN, else a binary built once for the whole run."""
    if os.environ.get("CREDPOOL_BIN"):
        return os.environ["CREDPOOL_BIN"]
    if "bin" not in _build:
        _build["dir"] = tempfile.mkdtemp(prefix="cpybin")
        binary = os.path.join(_build["dir"], "credpool")
        subprocess.run(["go", "build", "-o", binary, "./cmd/credpool"], cwd=REPO, check=True, timeout=300)
        _build["bin"] = binary
    return _build["bin"]


def tearDownModule():
    if "dir" in _build:
        shutil.rmtree(_build["dir"], ignore_errors=True)


class DaemonTestCase(unittest.TestCase):
    """Starts one daemon for the class on a temp auth.json and socket."""

    proc = None

    @classmethod
    def setUpClass(cls):
        # AF_UNIX paths are limited to 108 bytes: keep the directory short.
        cls.tmp = tempfile.mkdtemp(prefix="cpy", dir="/tmp")
        try:
            binary = daemon_binary()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.auth = os.path.join(cls.tmp, "auth", "auth.json")
        os.makedirs(os.path.dirname(cls.auth), mode=0o700)
        with open(cls.auth, "w") as f:
            json.dump(auth_doc(), f)
        os.chmod(cls.auth, 0o600)
        cls.sock = os.path.join(cls.tmp, "run", "credpool.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDPOOL_") and k != "HERMES_HOME"}
        env["XDG_CONFIG_HOME"] = os.path.join(cls.tmp, "config")  # no user config.toml
        cls.stderr = open(os.path.join(cls.tmp, "daemon.log"), "w+")
        cls.proc = subprocess.Popen(
            [binary, "daemon", "--auth-file", cls.auth, "--socket", cls.sock, "--tick", "100ms"],
            env=env, stdin=subprocess.DEVNULL, stdout=cls.stderr, stderr=cls.stderr)
        cls.client = cp.Client(cls.sock, connect_retry=0)
        deadline = time.monotonic() + 15
        while True:
            if cls.proc.poll() is not None:
                cls._stop()
                raise RuntimeError("the daemon exited with %s:\n%s" % (cls.proc.returncode, cls._log()))
            try:
                cls.client.health()
                break
            except cp.DaemonNotRunning:
                if time.monotonic() > deadline:
                    cls._stop()
                    raise RuntimeError("the daemon did not answer within 15 s:\n" + cls._log())
                time.sleep(0.05)

    @classmethod
    def _log(cls):
        cls.stderr.seek(0)
        return cls.stderr.read()

    @classmethod
    def _stop(cls):
        if cls.proc is not None and cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.stderr.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._stop()

    def entry(self, pool, entry_id):
        for e in self.client.pool(pool)["entries"]:
            if e["id"] == entry_id:
                return e
        self.fail("no entry %s in pool %s" % (entry_id, pool))


class ClientTest(DaemonTestCase):

    def test_health_and_pools(self):
        h = self.client.health()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["pools"], len(POOLS))
        self.assertEqual(h["entries"], sum(POOLS.values()))
        names = {p["provider"] for p in self.client.pools()}
        self.assertEqual(names, set(POOLS))
        p = self.client.pool("openrouter")
        self.assertEqual(len(p["entries"]), 3)
        self.assertEqual(p["entries"][0]["token_hint"], token("openrouter", 0)[-4:])
        self.assertNotIn("secretvalue", json.dumps(p))

    def test_select_returns_credential_without_refresh_token(self):
        got = self.client.select("openrouter")
        cred = got["credential"]
        self.assertEqual(cred["access_token"], token("openrouter", 0))
        self.assertEqual(cred["provider"], "openrouter")
        self.assertEqual(cred["label"], "openrouter-0")
        self.assertNotIn("refresh_token", cred)
        self.assertNotIn("rt-must-never", json.dumps(got))
        self.assertNotIn("lease", got)

        leased = self.client.select("openrouter", lease=True)
        self.assertTrue(leased["lease"]["id"])
        self.assertGreater(leased["lease"]["expires_at"], time.time())
        self.client.release(leased["lease"]["id"])
        with self.assertRaises(cp.UnknownLease) as ctx:
            self.client.release(leased["lease"]["id"])
        self.assertEqual(ctx.exception.status, 404)

    def test_report_429_marks_exhausted_and_next_is_another(self):
        first = self.client.select("rot")["credential"]
        res = self.client.report("rot", 429, credential_id=first["id"], reason="rate_limit_exceeded",
                                 message="slow down", retry_after="120")
        self.assertEqual(res["marked"]["id"], first["id"])
        self.assertEqual(res["marked"]["status"], "exhausted")
        self.assertAlmostEqual(res["marked"]["until"], time.time() + 120, delta=15)
        self.assertIsNotNone(res["next"])
        self.assertNotEqual(res["next"]["id"], first["id"])
        self.assertEqual(self.client.select("rot")["credential"]["id"], res["next"]["id"])
        e = self.entry("rot", first["id"])
        self.assertEqual((e["status"], e["available"], e["last_error_code"]), ("exhausted", False, 429))

    def test_report_401_token_invalidated_marks_dead(self):
        first = self.client.select("deadpool")["credential"]
        res = self.client.report("deadpool", 401, api_key_hint=first["access_token"],
                                 reason="token_invalidated", message="Your authentication token has been invalidated.")
        self.assertEqual(res["marked"], {"id": first["id"], "status": "dead", "until": None})
        self.assertNotEqual(res["next"]["id"], first["id"])
        e = self.entry("deadpool", first["id"])
        self.assertEqual((e["status"], e["last_error_reason"]), ("dead", "token_invalidated"))

        # A 401 without a terminal reason only cools down.
        second = res["next"]
        res = self.client.report("deadpool", 401, credential_id=second["id"], reason="whatever")
        self.assertEqual(res["marked"]["status"], "exhausted")

    def test_no_credential_available_when_all_cool(self):
        for _ in range(POOLS["cooling"]):
            cred = self.client.select("cooling")["credential"]
            self.client.report("cooling", 429, credential_id=cred["id"], retry_after=120)
        with self.assertRaises(cp.NoCredentialAvailable) as ctx:
            self.client.select("cooling")
        err = ctx.exception
        self.assertEqual((err.status, err.code), (503, "no_available_credential"))
        self.assertIsNotNone(err.retry_after_s)
        self.assertGreater(err.retry_after_s, 100)
        self.assertLessEqual(err.retry_after_s, 121)
        self.assertAlmostEqual(err.next_available_at, time.time() + err.retry_after_s, delta=15)
        self.assertIsInstance(err, cp.CredpoolError)

        # A bounded wait ends with the same error (the cooldown is longer).
        with self.assertRaises(cp.NoCredentialAvailable):
            self.client.select("cooling", wait_ms=100)
        with self.assertRaises(ValueError):
            self.client.select("cooling", wait_ms=cp.MAX_WAIT_MS + 1)

    def test_no_credential_available_only_dead_has_no_retry(self):
        cred = self.client.select("onlydead")["credential"]
        res = self.client.report("onlydead", 401, credential_id=cred["id"], reason="token_revoked")
        self.assertIsNone(res["next"])
        with self.assertRaises(cp.NoCredentialAvailable) as ctx:
            self.client.select("onlydead")
        self.assertIsNone(ctx.exception.retry_after_s)
        self.assertIsNone(ctx.exception.next_available_at)

    def test_unknown_pool(self):
        for call in (lambda: self.client.pool("nope"), lambda: self.client.select("nope"),
                     lambda: self.client.report("nope", 429, credential_id="abcdef")):
            with self.subTest(call=call):
                with self.assertRaises(cp.UnknownPool) as ctx:
                    call()
                self.assertEqual((ctx.exception.status, ctx.exception.code), (404, "unknown_pool"))

    def test_bad_request_is_a_credpool_error(self):
        with self.assertRaises(cp.CredpoolError) as ctx:
            self.client.report("rot", 42, credential_id="abcdef")
        self.assertEqual((ctx.exception.status, ctx.exception.code), (400, "bad_request"))

    def test_admin_add_remove_reset(self):
        e = self.client.add("admin", "sk-test-admin-added-secretvalue", label="added")
        self.assertEqual((e["label"], e["source"], e["token_hint"]), ("added", "manual", "alue"))
        self.assertNotIn("secretvalue", json.dumps(e))
        cred = self.client.select("admin")["credential"]
        self.client.report("admin", 429, credential_id=cred["id"])
        self.assertEqual(self.client.reset("admin"), 1)
        self.assertEqual(self.entry("admin", cred["id"])["status"], "ok")
        removed = self.client.remove("admin", "added")
        self.assertEqual(removed["id"], e["id"])
        self.assertEqual(len(self.client.pool("admin")["entries"]), POOLS["admin"])


class LeasedCredentialTest(DaemonTestCase):

    def test_context_manager_holds_and_releases_its_lease(self):
        with self.client.credential("leases") as cred:
            self.assertEqual(cred.token, token("leases", 0))
            self.assertEqual(cred.credential["id"], cred.id)
            self.assertIsNone(cred.base_url)
            self.assertTrue(cred.lease_id)
            self.assertNotIn(cred.token, repr(cred))
            self.assertEqual(self.entry("leases", cred.id)["leases"], 1)
            other = self.client.select("leases", lease=True)
            self.assertNotEqual(other["credential"]["id"], cred.id)
            self.client.release(other["lease"]["id"])
            held = cred.id
        self.assertEqual(self.entry("leases", held)["leases"], 0)
        again = self.client.select("leases", lease=True)
        self.assertEqual(again["credential"]["id"], held)
        self.client.release(again["lease"]["id"])

    def test_exit_ignores_a_lease_that_is_gone(self):
        with self.client.credential("leases") as cred:
            self.client.release(cred.lease_id)
        # no UnknownLease escaped; the entry is free
        self.assertEqual(self.entry("leases", cred.id)["leases"], 0)

    def test_fail_reports_and_consumes_the_lease(self):
        with self.client.credential("auto") as cred:
            res = cred.fail(401, {"error": {"code": "token_invalidated", "message": "gone"}})
        self.assertEqual(res["marked"]["status"], "dead")
        self.assertIs(cred.report_result, res)
        e = self.entry("auto", cred.id)
        self.assertEqual((e["status"], e["last_error_reason"], e["last_error_message"], e["leases"]),
                         ("dead", "token_invalidated", "gone", 0))

    def test_context_manager_reports_an_exceptions_status(self):
        class APIStatusError(Exception):  # shaped like openai.APIStatusError
            def __init__(self, status_code, body):
                super().__init__("provider said %d" % status_code)
                self.status_code, self.body = status_code, body

        with self.assertRaises(APIStatusError):
            with self.client.credential("auto") as cred:
                raise APIStatusError(429, {"code": "rate_limit_exceeded", "message": "slow"})
        e = self.entry("auto", cred.id)
        self.assertEqual((e["status"], e["last_error_code"], e["last_error_reason"], e["leases"]),
                         ("exhausted", 429, "rate_limit_exceeded", 0))

        with self.assertRaises(urllib.error.HTTPError):
            with self.client.credential("auto") as cred2:
                hdrs = {"Retry-After": "30"}
                raise urllib.error.HTTPError("http://x", 401, "Unauthorized", hdrs, None)
        self.assertNotEqual(cred2.id, cred.id)
        e = self.entry("auto", cred2.id)
        self.assertEqual((e["status"], e["last_error_code"]), ("exhausted", 401))

        # An exception without a status is not reported, only released.
        with self.assertRaises(KeyError):
            with self.client.credential("auto") as cred3:
                raise KeyError("bug in the agent")
        e = self.entry("auto", cred3.id)
        self.assertEqual((e["status"], e["leases"]), ("ok", 0))


class ExampleTest(DaemonTestCase):

    def run_example(self, script, pool):
        env = dict(os.environ, CREDPOOL_SOCKET=self.sock)
        out = subprocess.run([sys.executable, os.path.join(HERE, script), pool],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for i in range(POOLS[pool]):
            self.assertNotIn(token(pool, i), out.stdout + out.stderr)
        return out

    def test_quota_example_runs(self):
        out = self.run_example("example_quota_headers.py", "quotademo")
        self.assertIn("rotated before any 429", out.stdout)
        self.assertNotIn("429", out.stdout.replace("before any 429", ""))
        self.assertIn("every key is out of budget", out.stdout)
        e = self.client.pool("quotademo")["entries"]
        self.assertEqual([x["available"] for x in e], [False, False])
        self.assertTrue(all(x["quota_until"] for x in e))

    def test_example_runs_end_to_end(self):
        out = self.run_example("example_openai_rotation.py", "demo")
        self.assertIn("429 rate_limit_exceeded", out.stdout)
        self.assertIn("marked EXHAUSTED", out.stdout)
        self.assertIn("401 token_invalidated", out.stdout)
        self.assertIn("marked DEAD", out.stdout)
        self.assertIn("200 OK", out.stdout)
        statuses = [e["status"] for e in self.client.pool("demo")["entries"]]
        self.assertEqual(sorted(statuses), ["dead", "exhausted", "ok"])


class RateLimitTest(DaemonTestCase):

    def test_observe_zero_remaining_rotates_before_the_wall(self):
        with self.client.credential("quota") as cred:
            first = cred.id
            res = cred.observe(200, openai_headers(remaining=0))
            self.assertIsInstance(res, cp.Answer)
            self.assertIsNone(res.marked, "a 200 marks nothing")
            self.assertTrue(res.persisted)
            self.assertIsNone(res.persist_error)
            self.assertIsNotNone(res.next)
            self.assertNotEqual(res.next["id"], first, "selection moved before any 429")
            self.assertEqual(self.entry("quota", first)["leases"], 1, "a success keeps the lease")
        e = self.entry("quota", first)
        self.assertEqual((e["status"], e["available"], e["leases"]), ("ok", False, 0))
        windows = {w["key"]: w for w in e["quota"]}
        self.assertEqual(windows["openai/requests"]["remaining"], 0)
        self.assertEqual(windows["openai/requests"]["limit"], 500)
        self.assertTrue(windows["openai/requests"]["blocking"])
        self.assertAlmostEqual(e["quota_until"], time.time() + 360, delta=15)
        self.assertNotEqual(self.client.select("quota")["credential"]["id"], first)
        log = self._log()
        for private in ("SECRETCOOKIE", "sk-SECRET-hdr", "org-private"):
            self.assertNotIn(private, log)

    def test_model_scoped_429(self):
        # An Anthropic 429 for one model benches the key for that model only.
        with self.client.credential("anthropic", model="claude-opus-4-1") as cred:
            first = cred.id
            res = cred.fail(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
                            headers={"retry-after": "120"})
        self.assertEqual(res.marked["model"], "claude-opus-4-1")
        self.assertEqual(res.marked["status"], "ok")
        self.assertAlmostEqual(res.marked["until"], time.time() + 120, delta=15)
        self.assertEqual(self.client.select("anthropic", model="claude-sonnet-4-5")["credential"]["id"], first)
        self.assertNotEqual(self.client.select("anthropic", model="claude-opus-4-1")["credential"]["id"], first)
        self.assertNotEqual(self.client.select("anthropic")["credential"]["id"], first,
                            "a caller that does not know its model stays on the safe side")
        e = self.entry("anthropic", first)
        self.assertEqual(list(e["model_cooldowns"]), ["claude-opus-4-1"])

    def test_fail_passes_headers_on(self):
        with self.client.credential("failhdr") as cred:
            res = cred.fail(429, {"error": {"code": "rate_limit_exceeded"}},
                            headers=dict(PRIVATE_HEADERS, **{"Retry-After": "90"}))
        self.assertEqual(res.marked["status"], "exhausted")
        self.assertAlmostEqual(res.marked["until"], time.time() + 90, delta=15,
                               msg="the Retry-After of the headers set the cooldown")

    def test_exception_reports_its_headers(self):
        class Response:  # shaped like httpx.Response
            status_code = 429
            headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s",
                       "retry-after": "20", "set-cookie": "SECRETCOOKIE"}

        class RateLimitError(Exception):  # shaped like openai.RateLimitError
            status_code = 429
            body = {"code": "rate_limit_exceeded", "message": "slow"}
            response = Response()

        with self.assertRaises(RateLimitError):
            with self.client.credential("autohdr") as cred:
                raise RateLimitError("429")
        e = self.entry("autohdr", cred.id)
        self.assertEqual((e["status"], e["last_error_code"]), ("exhausted", 429))
        self.assertAlmostEqual(e["until"], time.time() + 20, delta=15)
        self.assertEqual({w["key"] for w in e["quota"]}, {"openai/requests", "http/retry-after"})

    def test_retry_after_s_only_for_a_short_wait_with_nothing_to_rotate_to(self):
        cred = self.client.select("sole")["credential"]
        res = self.client.report("sole", 429, credential_id=cred["id"], headers={"retry-after": "5"})
        self.assertIsNone(res.next)
        self.assertAlmostEqual(res.retry_after_s, 5, delta=2)
        self.assertTrue(res.persisted)
        cred = self.client.select("solelong")["credential"]
        res = self.client.report("solelong", 429, credential_id=cred["id"], headers={"retry-after": "3600"})
        self.assertIsNone(res.next)
        self.assertIsNone(res.retry_after_s, "a long wait is not passed on (long_wait, 60 s)")


class NoDaemonTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cpy", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_missing_socket(self):
        path = os.path.join(self.tmp, "missing.sock")
        with self.assertRaises(cp.DaemonNotRunning) as ctx:
            cp.Client(path, connect_retry=0).health()
        self.assertIn(path, str(ctx.exception))
        self.assertIn("credpool daemon", str(ctx.exception))
        self.assertIsNone(ctx.exception.status)

    def test_stale_socket_refuses(self):
        path = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)  # bound, never listening: connect is refused
        self.addCleanup(s.close)
        with self.assertRaises(cp.DaemonNotRunning):
            cp.Client(path, connect_retry=0.05).select("openrouter")

    def test_default_socket_path(self):
        cases = [
            ({"CREDPOOL_SOCKET": "/x/s.sock", "XDG_RUNTIME_DIR": "/run/user/1"}, "/x/s.sock"),
            ({"XDG_RUNTIME_DIR": "/run/user/1"}, "/run/user/1/credpool/credpool.sock"),
            ({"HOME": "/home/u"}, "/home/u/.cache/credpool/credpool.sock"),
        ]
        for env, want in cases:
            with self.subTest(env=env), mock.patch.dict(os.environ, env, clear=True), \
                    mock.patch.object(sys, "platform", "linux"):
                self.assertEqual(cp.default_socket_path(), want)
                self.assertEqual(cp.Client().socket_path, want)
        self.assertEqual(cp.Client("/explicit.sock").socket_path, "/explicit.sock")

    def test_default_socket_path_follows_the_golden_table(self):
        # The one table the Go daemon is tested against too.
        with open(os.path.join(REPO, "paths", "testdata", "socket_paths.json")) as f:
            rows = json.load(f)
        self.assertTrue(rows)
        for row in rows:
            with self.subTest(row=row["name"]):
                self.assertIn(row["goos"], ("linux", "darwin"))
                env = dict(row["env"])
                if not row.get("client"):
                    env.pop("CREDPOOL_SOCKET", None)  # the row is the daemon's default
                want = row["want"].replace("{uid}", str(os.getuid()))
                self.assertEqual(cp.default_socket_path(env, row["goos"]), want)

    def test_rate_limit_headers(self):
        import email.message
        import http.client
        h = dict(PRIVATE_HEADERS, **{
            "X-RateLimit-Remaining-Requests": "0", "anthropic-ratelimit-unified-status": "rejected",
            "Anthropic-Ratelimit-Unified-5h-Utilization": "0.99", "x-codex-primary-used-percent": "42",
            "x-codex-bengalfox-primary-reset-at": "1780000000", "x-codex-bengalfox-limit-name": "GPT-5.3-Codex-Spark",
            "Retry-After": "30", "retry-after-ms": "30000", "x-ratelimit-reset-tokens": "x" * 300,
            "Content-Type": "application/json"})
        want = {"x-ratelimit-remaining-requests": "0", "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-5h-utilization": "0.99", "x-codex-primary-used-percent": "42",
                "x-codex-bengalfox-primary-reset-at": "1780000000",
                "x-codex-bengalfox-limit-name": "GPT-5.3-Codex-Spark", "retry-after": "30", "retry-after-ms": "30000"}
        self.assertEqual(cp.rate_limit_headers(h), want)
        self.assertEqual(cp.rate_limit_headers(list(h.items())), want)
        msg = http.client.HTTPMessage()
        for k, v in h.items():
            msg[k] = v
        msg["X-RateLimit-Remaining-Requests"] = "7"  # given twice: the first counts
        self.assertEqual(cp.rate_limit_headers(msg), want)
        self.assertIsInstance(msg, email.message.Message)
        self.assertEqual(cp.rate_limit_headers(None), {})
        many = {"x-ratelimit-remaining-w%03d" % i: "1" for i in range(100)}
        self.assertEqual(len(cp.rate_limit_headers(many)), 64, "the daemon takes at most 64")

    def test_rate_limit_headers_of_httpx(self):
        # The OpenAI and Anthropic SDKs' raw.headers is an httpx.Headers
        # (Debian's python3-httpx, which CI installs).
        try:
            import httpx
        except ImportError:
            if os.environ.get("CI"):
                self.fail("httpx is missing: CI installs python3-httpx for this test")
            self.skipTest("httpx is not installed")
        h = httpx.Headers([("X-RateLimit-Remaining-Requests", "0"), ("x-ratelimit-reset-requests", "6m0s"),
                           ("Set-Cookie", "SECRETCOOKIE"), ("Retry-After", "30")])
        self.assertEqual(cp.rate_limit_headers(h), {"x-ratelimit-remaining-requests": "0",
                                                   "x-ratelimit-reset-requests": "6m0s", "retry-after": "30"})

    def test_parse_error_body(self):
        cases = [
            ({"error": {"code": "token_invalidated", "message": "m"}}, ("token_invalidated", "m")),
            ({"error": {"type": "rate_limit_error", "message": "m"}}, ("rate_limit_error", "m")),
            ({"error": {"code": 429, "type": "insufficient_quota", "message": "m"}}, ("insufficient_quota", "m")),
            ({"type": "error", "error": {"type": "overloaded_error", "message": "m"}}, ("overloaded_error", "m")),
            ({"code": "invalid_token", "message": "m"}, ("invalid_token", "m")),
            ({"error": "invalid_grant", "error_description": "d"}, ("invalid_grant", "d")),
            ({"detail": {"code": "token_revoked"}}, ("token_revoked", None)),
            ('{"error": {"code": "token_invalidated", "message": "m"}}', ("token_invalidated", "m")),
            (b'{"error": {"code": "token_invalidated"}}', ("token_invalidated", None)),
            ("token_invalidated", ("token_invalidated", None)),
            ("  invalid_grant\n", ("invalid_grant", None)),
            ("Bad Gateway from upstream", (None, "Bad Gateway from upstream")),
            (b"<html>502</html>", (None, "<html>502</html>")),
            (None, (None, None)),
            ("", (None, None)),
            (["not", "an", "object"], (None, None)),
        ]
        for body, want in cases:
            with self.subTest(body=body):
                self.assertEqual(cp.parse_error_body(body), want)
        reason, msg = cp.parse_error_body({"error": {"message": "x" * 5000}})
        self.assertIsNone(reason)
        self.assertEqual(len(msg), 1000)

    def test_status_of_exception(self):
        class E(Exception):
            pass

        def exc(**attrs):
            e = E()
            e.__dict__.update(attrs)
            return e

        resp = type("R", (), {"status_code": 502})()
        cases = [
            (exc(status_code=429), 429),
            (exc(status=402), 402),
            (exc(code=401), 401),
            (exc(code="token_invalidated", status_code=401), 401),
            (exc(code="ECONNRESET"), None),
            (exc(code=True), None),
            (exc(code=7), None),
            (exc(response=resp), 502),
            (E(), None),
            (cp.CredpoolError("x", status=503), None),
        ]
        for e, want in cases:
            with self.subTest(e=e.__dict__):
                self.assertEqual(cp._status_of(e), want)


if __name__ == "__main__":
    unittest.main()
