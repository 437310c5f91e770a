"""credpool_client: a dependency-free Python client for the credpool daemon.

credpool is a per-user daemon that owns a pool of LLM API credentials and
serves them over HTTP/1.1 on a Unix socket. This module is one file that uses
only the standard library, so an agent can vendor it by copying it.

    from credpool_client import Client, NoCredentialAvailable

    client = Client()                      # socket from $CREDPOOL_SOCKET or the default
    with client.credential("openrouter", model="gpt-4.1") as cred:
        resp = call_provider(cred.token)   # your HTTP call
        if resp.status != 200:
            cred.fail(resp.status, resp.body, headers=resp.headers)   # 429 -> cooldown, 401 token_invalidated -> DEAD
        else:
            cred.observe(resp.status, resp.headers)   # the budget left: rotate before the wall
    # the lease is released here (or was consumed by the report)

An exception raised inside the block that carries an HTTP status
(``status_code``, ``status`` or ``code`` attribute, as openai.APIStatusError
and urllib.error.HTTPError do) is reported automatically and re-raised.

Every time in the API is epoch seconds (a float); durations are seconds.
No method of this module puts a token into an exception message.
"""

import errno
import http.client
import json
import os
import posixpath
import socket
import sys
import time
import urllib.parse

__all__ = [
    "Client",
    "LeasedCredential",
    "CredpoolError",
    "NoCredentialAvailable",
    "DaemonNotRunning",
    "UnknownPool",
    "UnknownLease",
    "Answer",
    "default_socket_path",
    "parse_error_body",
    "rate_limit_headers",
]

#: Timeout (seconds) of a request that does not wait for a credential.
DEFAULT_TIMEOUT = 10.0
#: How long (seconds) to keep dialling a socket that is missing or refuses
#: connections, so that an agent started together with the daemon still works.
DEFAULT_CONNECT_RETRY = 1.0
#: The longest wait_ms the daemon accepts.
MAX_WAIT_MS = 30000
# A message sent to the daemon is bounded: it is stored in auth.json.
_MAX_MESSAGE = 1000
_MAX_PLAIN_REASON = 100
# The daemon refuses a report with more headers, or a longer value, whole.
_MAX_HEADERS = 64
_MAX_HEADER_VALUE = 256


class CredpoolError(Exception):
    """An error answer of the daemon, or a failure to talk to it.

    ``status`` is the HTTP status (None when no answer came), ``code`` the
    API's error code (e.g. ``"bad_request"``), ``message`` the daemon's text.
    """

    def __init__(self, message, status=None, code=None, body=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body

    def __str__(self):
        if self.status is None:
            return "credpool: %s" % self.message
        return "credpool: %s (HTTP %s %s)" % (self.message, self.status, self.code)


class NoCredentialAvailable(CredpoolError):
    """Select found no available credential (HTTP 503).

    ``retry_after_s`` and ``next_available_at`` say when the first one
    recovers; both are None when only DEAD entries remain (nothing recovers
    by itself: add or re-authenticate a credential).
    """

    def __init__(self, message, status=503, code="no_available_credential", body=None,
                 retry_after_s=None, next_available_at=None):
        super().__init__(message, status, code, body)
        self.retry_after_s = retry_after_s
        self.next_available_at = next_available_at


class DaemonNotRunning(CredpoolError):
    """Nothing listens on the socket (it is missing or refuses connections)."""

    def __init__(self, socket_path, cause=None):
        msg = ("the credpool daemon is not running (nothing listens on %s); start it with "
               "`credpool daemon` or `credpool service install && credpool service start`, "
               "or set CREDPOOL_SOCKET to its socket" % socket_path)
        super().__init__(msg, None, "daemon_not_running")
        self.socket_path = socket_path
        self.__cause__ = cause


class UnknownPool(CredpoolError):
    """The daemon has no pool for this provider (HTTP 404 unknown_pool)."""


class UnknownLease(CredpoolError):
    """The lease does not exist (any more): released, reported or expired."""


_ERRORS_BY_CODE = {
    "no_available_credential": NoCredentialAvailable,
    "unknown_pool": UnknownPool,
    "unknown_lease": UnknownLease,
}


def default_socket_path(environ=None, platform=None, uid=None):
    """The socket the daemon listens on by default.

    $CREDPOOL_SOCKET, else on macOS $TMPDIR/credpool/credpool.sock, else
    $XDG_RUNTIME_DIR/credpool/credpool.sock, else
    $HOME/.cache/credpool/credpool.sock, else /tmp/credpool-UID/credpool.sock
    (a directory that is not absolute counts as unset). This is the Go
    daemon's rule; paths/testdata/socket_paths.json is the table both are
    tested against. environ, platform and uid default to os.environ,
    sys.platform and os.getuid().
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    explicit = env.get("CREDPOOL_SOCKET")
    if explicit:
        return explicit

    def under(d, *rest):
        return posixpath.normpath(posixpath.join(d, *rest))

    if platform == "darwin":
        candidates = [(env.get("TMPDIR"), ())]
    else:
        candidates = [(env.get("XDG_RUNTIME_DIR"), ()), (env.get("HOME"), (".cache",))]
    for base, rest in candidates:
        if base and posixpath.isabs(base):
            return under(base, *rest, "credpool", "credpool.sock")
    # No usable directory (launchd without a session, a bare environment):
    # a per-user name keeps users on a shared /tmp apart.
    return "/tmp/credpool-%d/credpool.sock" % (os.getuid() if uid is None else uid)


def _is_rate_limit_header(name):
    """The header families the daemon reads (package quota): OpenAI and
    Anthropic rate limits, Codex windows, Retry-After."""
    if name in ("retry-after", "retry-after-ms"):
        return True
    if name.startswith(("x-ratelimit-", "anthropic-ratelimit-", "x-codex-")):
        return True
    return name.startswith("x-") and (
        "-primary-" in name or "-secondary-" in name or name.endswith("-limit-name"))


def rate_limit_headers(headers):
    """The rate-limit headers of a provider's answer, as a report carries
    them: {lower-case name: first value}. Only these are sent; the rest of
    an answer's headers (cookies, request ids) never leave the agent.

    headers may be a dict, http.client.HTTPMessage, an httpx.Headers (the
    OpenAI SDK's raw.headers), a requests CaseInsensitiveDict, a list of
    (name, value) pairs, or None. Values longer than the daemon takes are
    dropped, as are headers past the daemon's bound of 64.
    """
    if headers is None:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    out = {}
    for name, value in items:
        if not isinstance(name, str):
            name = name.decode("latin-1") if isinstance(name, (bytes, bytearray)) else str(name)
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("latin-1")
        name = name.strip().lower()
        if name in out or not _is_rate_limit_header(name):
            continue
        value = str(value).strip()
        if len(value.encode("utf-8")) <= _MAX_HEADER_VALUE:
            out[name] = value
    if len(out) > _MAX_HEADERS:
        out = {k: out[k] for k in sorted(out)[:_MAX_HEADERS]}
    return out


class Answer(dict):
    """A report's answer: the JSON object, with its members as attributes.

    marked: {"id", "status", "until", "model"?} or None; next: the credential
    to use now, or None; retry_after_s: seconds to wait before retrying the
    same credential (only for a short Retry-After when nothing else is
    available), else None; persisted: whether the mark is on disk
    (persist_error says why not; the daemon keeps retrying).
    """

    marked = property(lambda self: self.get("marked"))
    next = property(lambda self: self.get("next"))
    retry_after_s = property(lambda self: self.get("retry_after_s"))
    persisted = property(lambda self: self.get("persisted"))
    persist_error = property(lambda self: self.get("persist_error"))


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection over an AF_UNIX stream socket."""

    def __init__(self, socket_path, timeout):
        # The host name only fills the Host header; the daemon ignores it.
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _is_not_running(exc):
    return isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ECONNREFUSED))


class Client:
    """A client of one credpool daemon. Safe to share between threads: each
    call opens its own connection (cheap over a Unix socket).

    socket_path: explicit path, else default_socket_path().
    timeout: seconds for a request; a select with wait_ms gets wait_ms more.
    connect_retry: seconds to keep dialling while the socket is missing or
    refuses connections before raising DaemonNotRunning (0: no retry).
    """

    def __init__(self, socket_path=None, timeout=DEFAULT_TIMEOUT, connect_retry=DEFAULT_CONNECT_RETRY):
        self.socket_path = socket_path or default_socket_path()
        self.timeout = timeout
        self.connect_retry = connect_retry

    # -- status ---------------------------------------------------------------

    def health(self):
        """GET /v1/health: {"status": "ok"|"degraded", "version", "auth_file", ...}."""
        return self._request("GET", "/v1/health")

    def pools(self):
        """Every pool: a list of Pool dicts (provider, strategy, entries, available,
        next_available_at). Entries carry no secrets, only a token_hint."""
        return self._request("GET", "/v1/pools")["pools"]

    def pool(self, provider):
        """One provider's Pool dict; raises UnknownPool."""
        return self._request("GET", "/v1/pools/" + _seg(provider))

    # -- agents ---------------------------------------------------------------

    def select(self, provider, strategy=None, lease=False, wait_ms=None, model=None):
        """Pick a credential: {"credential": {...}, "lease": {"id", "expires_at"}?}.

        The credential dict has id, provider, label, auth_type, source,
        access_token, base_url, expires_at, priority, request_count (never a
        refresh token). With wait_ms (<= 30000) the daemon blocks until one
        is available. model skips credentials benched for that model
        (without it, those benched for any model are skipped). Raises
        NoCredentialAvailable, UnknownPool, DaemonNotRunning.
        """
        body = {}
        if strategy:
            body["strategy"] = strategy
        if lease:
            body["lease"] = True
        if model:
            body["model"] = model
        timeout = self.timeout
        if wait_ms:
            wait_ms = int(wait_ms)
            if not 0 <= wait_ms <= MAX_WAIT_MS:
                raise ValueError("wait_ms must be between 0 and %d" % MAX_WAIT_MS)
            body["wait_ms"] = wait_ms
            timeout += wait_ms / 1000.0
        return self._request("POST", "/v1/pools/%s/select" % _seg(provider), body, timeout=timeout)

    def report(self, provider, status_code, credential_id=None, lease_id=None, api_key_hint=None,
               reason=None, message=None, reset_at=None, retry_after=None, failure_reason=None,
               model=None, headers=None):
        """Tell the daemon how the provider answered; returns an Answer.

        The entry is found by credential_id, else lease_id, else
        api_key_hint (the token used). A report on a lease releases it.
        Answer.marked is {"id", "status", "until", "model"?} or None; next
        is the credential to use now, or None. reset_at: epoch
        seconds/milliseconds or ISO-8601; retry_after: seconds or an
        HTTP-date (a Retry-After header's value). model: the model the call
        used (an Anthropic 429 or a model_entitlement failure benches the
        credential for that model only). headers: the provider's response
        headers (any mapping); only the rate-limit ones are sent, and the
        daemon keeps the budgets they announce. A 2xx report records them
        and marks nothing.
        """
        body = {"status_code": int(status_code)}
        for key, val in (("credential_id", credential_id), ("lease_id", lease_id),
                         ("api_key_hint", api_key_hint), ("reason", reason),
                         ("message", _clip(message)), ("failure_reason", failure_reason),
                         ("reset_at", reset_at), ("retry_after", retry_after), ("model", model),
                         ("headers", rate_limit_headers(headers) or None)):
            if val is not None and val != "":
                body[key] = val
        return Answer(self._request("POST", "/v1/pools/%s/report" % _seg(provider), body))

    def release(self, lease_id):
        """Give a lease back; raises UnknownLease if it is gone already."""
        self._request("POST", "/v1/leases/%s/release" % _seg(lease_id))

    def credential(self, provider, strategy=None, wait_ms=None, model=None):
        """A with-statement helper: selects with a lease on entry, releases it on
        exit. See LeasedCredential."""
        return LeasedCredential(self, provider, strategy=strategy, wait_ms=wait_ms, model=model)

    # -- admin ----------------------------------------------------------------

    def add(self, provider, access_token, label=None, auth_type=None, refresh_token=None,
            base_url=None, priority=None):
        """Add a credential (source "manual"); returns the Entry dict (no secrets)."""
        body = {"access_token": access_token}
        for key, val in (("label", label), ("auth_type", auth_type), ("refresh_token", refresh_token),
                         ("base_url", base_url), ("priority", priority)):
            if val is not None:
                body[key] = val
        return self._request("POST", "/v1/pools/%s/entries" % _seg(provider), body)["entry"]

    def remove(self, provider, target):
        """Remove an entry by id, exact label or 1-based index; returns the Entry."""
        return self._request("DELETE", "/v1/pools/%s/entries/%s" % (_seg(provider), _seg(str(target))))["removed"]

    def reset(self, provider, target=None):
        """Clear cooldowns and DEAD marks (of one target or all); returns the count."""
        body = {"target": str(target)} if target is not None else {}
        return self._request("POST", "/v1/pools/%s/reset" % _seg(provider), body)["reset"]

    # -- transport ------------------------------------------------------------

    def _connect(self, timeout):
        deadline = time.monotonic() + max(0.0, self.connect_retry or 0.0)
        wait = 0.01
        while True:
            conn = _UnixHTTPConnection(self.socket_path, timeout)
            try:
                conn.connect()
                return conn
            except OSError as exc:
                conn.close()
                if not _is_not_running(exc):
                    raise CredpoolError("cannot connect to %s: %s" % (self.socket_path, exc)) from exc
                if time.monotonic() + wait >= deadline:
                    raise DaemonNotRunning(self.socket_path, exc) from exc
                time.sleep(wait)
                wait = min(wait * 2, 0.2)

    def _request(self, method, path, body=None, timeout=None):
        conn = self._connect(timeout or self.timeout)
        try:
            headers = {"Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode("utf-8")
                headers["Content-Type"] = "application/json"
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except socket.timeout as exc:
                raise CredpoolError("%s %s timed out after %.1f s" % (method, path, conn.timeout)) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise CredpoolError("%s %s failed: %s" % (method, path, exc)) from exc
        finally:
            conn.close()
        if resp.status == 204 or not raw:
            if resp.status >= 400:
                raise CredpoolError("HTTP %d with an empty body" % resp.status, resp.status)
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise CredpoolError("the daemon answered HTTP %d with something that is not JSON" % resp.status,
                                resp.status) from exc
        if resp.status >= 400:
            raise _api_error(resp, doc)
        return doc


def _api_error(resp, doc):
    err = doc.get("error") if isinstance(doc, dict) else None
    code = message = None
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
    message = message or "HTTP %d" % resp.status
    cls = _ERRORS_BY_CODE.get(code, CredpoolError)
    if cls is NoCredentialAvailable:
        retry = doc.get("retry_after_s")
        if retry is None and doc.get("next_available_at") is not None:
            header = resp.getheader("Retry-After")
            retry = float(header) if header and header.isdigit() else None
        return NoCredentialAvailable(message, resp.status, code, doc, retry_after_s=retry,
                                     next_available_at=doc.get("next_available_at"))
    return cls(message, resp.status, code, doc)


def _seg(s):
    """One URL path segment."""
    return urllib.parse.quote(str(s), safe="")


def _clip(s):
    if s is None:
        return None
    s = str(s)
    return s if len(s) <= _MAX_MESSAGE else s[:_MAX_MESSAGE - 3] + "..."


def parse_error_body(body):
    """(reason, message) from a provider's error answer.

    body may be a dict (parsed JSON), bytes or str. Understood shapes:
    OpenAI-style {"error": {"code"|"type", "message"}} (and the inner object
    alone, as openai.APIStatusError.body holds it), OAuth
    {"error": "invalid_grant", "error_description": ...}, and {"detail": ...}.
    A str that is not JSON and looks like a single word is taken as the
    reason itself (e.g. "token_invalidated"); other text becomes the message.
    """
    if body is None:
        return None, None
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
        text = body.strip()
        if not text.startswith(("{", "[")):
            return None, _clip(text) or None
    if isinstance(body, str):
        text = body.strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            if text and len(text) <= _MAX_PLAIN_REASON and not any(c.isspace() for c in text):
                return text, None
            return None, _clip(text) or None
        body = parsed
    if not isinstance(body, dict):
        return None, None
    return _reason_from_dict(body)


def _reason_from_dict(d):
    inner = d.get("error")
    if inner is None and "detail" in d:
        inner = d["detail"]
    if isinstance(inner, str):
        # OAuth style: {"error": "invalid_grant", "error_description": "..."}
        desc = d.get("error_description") or d.get("message")
        return inner or None, _clip(desc) if isinstance(desc, str) else None
    if not isinstance(inner, dict):
        inner = d  # the error object itself
    reason = None
    for key in ("code", "type"):
        val = inner.get(key)
        if isinstance(val, str) and val.strip() and val != "error":
            reason = val.strip()
            break
    msg = inner.get("message")
    return reason, _clip(msg) if isinstance(msg, str) else None


def _status_of(exc):
    """The HTTP status an exception carries, or None."""
    if isinstance(exc, CredpoolError):
        return None  # the daemon's own answer, not the provider's
    for attr in ("status_code", "status", "code"):
        val = getattr(exc, attr, None)
        if isinstance(val, int) and not isinstance(val, bool) and 100 <= val <= 599:
            return val
    resp = getattr(exc, "response", None)
    val = getattr(resp, "status_code", None)
    if isinstance(val, int) and 100 <= val <= 599:
        return val
    return None


def _headers_of(exc):
    """The response headers an exception carries (openai.APIStatusError has
    them on .response, urllib's HTTPError on itself), as rate_limit_headers
    keeps them."""
    for holder in (exc, getattr(exc, "response", None)):
        headers = getattr(holder, "headers", None)
        if headers is None:
            continue
        try:
            kept = rate_limit_headers(headers)
        except Exception:  # noqa: BLE001 - any odd headers object
            continue
        if kept:
            return kept
    return None


class LeasedCredential:
    """A leased credential for the length of a with block.

    Attributes after entering: credential (the dict from select), token,
    id, label, base_url, provider, model, lease_id, lease (dict). observe()
    reports a success with its rate-limit headers, fail() a failure; the
    lease is released on exit unless a failure's report consumed it. An
    exception with an HTTP status that leaves the block is reported (unless
    fail() was called) and re-raised.
    """

    def __init__(self, client, provider, strategy=None, wait_ms=None, model=None):
        self._client = client
        self.provider = provider
        self.model = model
        self._strategy = strategy
        self._wait_ms = wait_ms
        self.credential = None
        self.lease = None
        self.report_result = None
        self._done = False

    def __enter__(self):
        got = self._client.select(self.provider, strategy=self._strategy, lease=True, wait_ms=self._wait_ms,
                                  model=self.model)
        self.credential = got["credential"]
        self.lease = got.get("lease")
        return self

    def __repr__(self):  # never the token
        cid = self.credential.get("id") if self.credential else None
        return "<LeasedCredential %s id=%s lease=%s>" % (self.provider, cid, self.lease_id)

    @property
    def token(self):
        return self.credential["access_token"]

    @property
    def id(self):
        return self.credential["id"]

    @property
    def label(self):
        return self.credential.get("label")

    @property
    def base_url(self):
        return self.credential.get("base_url")

    @property
    def lease_id(self):
        return self.lease["id"] if self.lease else None

    def fail(self, status_code, body_or_reason=None, message=None, retry_after=None, reset_at=None,
             failure_reason=None, headers=None):
        """Report the provider's status code and error body (dict, JSON text or
        bytes, or a plain reason such as "token_invalidated"), with its
        response headers (their Retry-After counts when retry_after is not
        given, and their budgets are kept). Returns the report's Answer; the
        lease is consumed by it.
        """
        reason, body_msg = parse_error_body(body_or_reason)
        res = self._client.report(
            self.provider, status_code, credential_id=self.id, lease_id=self.lease_id,
            reason=reason, message=message if message is not None else body_msg,
            retry_after=retry_after, reset_at=reset_at, failure_reason=failure_reason,
            model=self.model, headers=headers)
        self._done = True
        self.report_result = res
        return res

    def observe(self, status_code, headers):
        """Report the provider's answer with its response headers (raw.headers
        of the OpenAI SDK's with_raw_response, http.client's, a dict): the
        daemon keeps the budgets they announce, and a credential with none
        left is skipped before it answers 429. A success keeps the lease; an
        error status is reported as fail(status_code, headers=headers)
        would. Returns the Answer (next is the credential to use now).
        """
        if int(status_code) >= 400:
            return self.fail(status_code, headers=headers)
        res = self._client.report(self.provider, status_code, credential_id=self.id,
                                  model=self.model, headers=headers)
        self.report_result = res
        return res

    def release(self):
        """Give the lease back now (also done on exit); idempotent."""
        if self._done or not self.lease_id:
            self._done = True
            return
        self._done = True
        try:
            self._client.release(self.lease_id)
        except UnknownLease:
            pass  # expired or already consumed: nothing to give back

    def __exit__(self, exc_type, exc, tb):
        if self.credential is None:
            return False
        if exc is not None and not self._done:
            status = _status_of(exc)
            if status is not None and status >= 400:
                reason, msg = parse_error_body(getattr(exc, "body", None))
                if reason is None:
                    code = getattr(exc, "code", None)
                    reason = code if isinstance(code, str) else None
                try:
                    self.fail(status, reason, message=msg, headers=_headers_of(exc))
                except CredpoolError:
                    pass  # never hide the caller's exception behind ours
        try:
            self.release()
        except CredpoolError:
            if exc is None:
                raise
        return False
