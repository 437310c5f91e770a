package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/credpool/credpool/internal/loopback"
)

// call is one client request on its way through the gateway: where it goes
// (set by the front handler) and what happened (set by the rotator, read
// for the log line and the metrics). It travels in the request context; the
// front handler, the proxy, the rotator and the body watcher all run on the
// handler's goroutine.
type call struct {
	pool string
	// label is the pool's metric label: a pool name only once the backend
	// has shown it knows the pool, so that no request can invent labels.
	label   string
	dialect dialect
	route   route
	model   string
	body    []byte // nil: no body

	attempts     int
	credentialID string
	reason       string // the gateway's own error code, or ""
}

// route is the part of the request URL after /<pool>.
type route struct {
	path, rawPath, rawQuery string
}

type callKey struct{}

func callFrom(ctx context.Context) *call { c, _ := ctx.Value(callKey{}).(*call); return c }

// Label values for requests that never reached a pool.
const (
	poolRefused = "-"       // refused before routing (host, origin, token, path)
	poolUnknown = "unknown" // the backend does not know the pool
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	c := &call{pool: poolRefused, label: poolRefused}
	c.dialect = dialectOf(firstSegment(r.URL.Path))
	// ReverseProxy aborts the response (panics with http.ErrAbortHandler)
	// when a stream breaks off; the line is logged all the same.
	defer func() {
		p := recover()
		s.finish(r, rec.status(), c, s.now().Sub(start))
		if p != nil {
			panic(p)
		}
	}()
	if e := s.admit(r, c); e != nil {
		c.reason = e.code
		c.dialect.writeError(rec, e)
		return
	}
	s.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// admit runs every check before a credential is touched, in order: Host,
// Origin, token, path, body. On success c has its route, model and body,
// and r's body is the buffered copy.
func (s *Server) admit(r *http.Request, c *call) *apiError {
	if !loopback.Is(hostOf(r.Host)) {
		return newError(errHostNotAllowed,
			"credpool gateway: the Host header must be 127.0.0.1, [::1] or localhost (DNS rebinding guard)")
	}
	if r.Header.Get("Origin") != "" {
		return newError(errOriginNotAllowed,
			"credpool gateway: requests from web pages (with an Origin header) are refused")
	}
	if !s.tokenOK(r.Header) {
		return newError(errInvalidAPIKey,
			"credpool gateway: missing or wrong gateway token: send it as the API key "+
				"(Authorization: Bearer, or x-api-key); it is in the gateway token file")
	}
	if r.URL.IsAbs() || r.URL.Host != "" {
		return newError(errAbsoluteURL,
			"credpool gateway: absolute request URLs are refused: the gateway is no open proxy")
	}
	pool, rt, ok := splitRoute(r)
	if !ok {
		return newError(errUnknownPool,
			"credpool gateway: the path must be /<pool>/..., with a pool name and no . or .. segments, e.g. /openai/chat/completions")
	}
	c.pool, c.label, c.route = pool, poolUnknown, rt
	c.dialect = dialectOf(pool)
	// A name the pool cannot have names no pool, as one it does not have:
	// answered alike, without asking the backend.
	if !validPool(pool) {
		return newError(errUnknownPool,
			"credpool gateway: no such pool: the path must start with a pool name as credpool status shows it "+
				"(lower case), e.g. /openai/chat/completions")
	}
	body, e := s.readBody(r)
	if e != nil {
		return e
	}
	c.body, c.model = body, modelOf(body)
	r.Body, r.ContentLength = http.NoBody, 0
	if body != nil {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	return nil
}

// tokenOK compares the presented token with the gateway's in constant time
// (hashes first, so that the length does not show either).
func (s *Server) tokenOK(h http.Header) bool {
	ok := 0
	for _, got := range presentedTokens(h) {
		sum := sha256.Sum256([]byte(got))
		ok |= subtle.ConstantTimeCompare(sum[:], s.tokenSum[:])
	}
	return ok == 1
}

// presentedTokens are the tokens a client sends: OpenAI SDKs as a Bearer
// token, Anthropic's as x-api-key (or Bearer with an auth token).
func presentedTokens(h http.Header) []string {
	var out []string
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		out = append(out, strings.TrimSpace(a[7:]))
	}
	if k := h.Get("X-Api-Key"); k != "" {
		out = append(out, k)
	}
	return out
}

func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	seg, _, _ := strings.Cut(p, "/")
	return seg
}

// splitRoute takes /<pool><rest> apart, in the decoded and the escaped path
// alike.
func splitRoute(r *http.Request) (pool string, rt route, ok bool) {
	p, raw := r.URL.Path, r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") || !strings.HasPrefix(raw, "/") {
		return "", rt, false
	}
	pool, rest, slash := strings.Cut(p[1:], "/")
	rawPool, rawRest, _ := strings.Cut(raw[1:], "/")
	if unesc, err := url.PathUnescape(rawPool); err != nil || unesc != pool {
		return "", rt, false
	}
	if slash {
		rt.path, rt.rawPath = "/"+rest, "/"+rawRest
	}
	for _, seg := range strings.Split(rt.path, "/") {
		if seg == "." || seg == ".." {
			return "", rt, false
		}
	}
	rt.rawQuery = r.URL.RawQuery
	return pool, rt, true
}

// readBody buffers the request body (up to MaxBody) so that a retry can send
// it again. nil means no body.
func (s *Server) readBody(r *http.Request) ([]byte, *apiError) {
	tooLarge := newError(errRequestTooLarge,
		fmt.Sprintf("credpool gateway: request body over %d bytes (max_body)", s.cfg.MaxBody))
	if r.ContentLength > s.cfg.MaxBody {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.cfg.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, newError(errBadRequestBody, "credpool gateway: could not read the request body")
	}
	return body, nil
}

// rewrite prepares the outbound request that the rotator sends, once per
// attempt, with a credential. ReverseProxy has already dropped hop-by-hop
// and X-Forwarded headers; the client's credentials go here, so they can
// never reach a provider.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	for _, k := range credentialHeaders {
		pr.Out.Header.Del(k)
	}
	// The body is buffered: no 100-continue dance with the upstream. No
	// Accept-Encoding: the upstream transport asks for gzip and decodes it,
	// so error bodies can be read for their reason.
	pr.Out.Header.Del("Expect")
	pr.Out.Header.Del("Accept-Encoding")
}

// proxyError answers what the rotator could not: its own *apiError, or the
// client's own cancellation (nobody to answer).
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	var e *apiError
	switch {
	case errors.As(err, &e):
	case r.Context().Err() != nil:
		c.reason = "client_gone"
		if rec, ok := w.(*statusRecorder); ok {
			rec.code = statusClientGone
		}
		return
	default:
		e = newError(errUpstreamError, "credpool gateway: the upstream request failed")
	}
	c.reason = e.code
	c.dialect.writeError(w, e)
}

// statusClientGone is what the log and metrics say when the client left
// before an answer (nginx's 499).
const statusClientGone = 499

// finish writes the request's one log line and counts it. A pool the
// backend does not know and the rest of the path are the client's own text,
// which could hold a key (or the gateway token) pasted in the wrong place:
// they are logged with those cut out.
func (s *Server) finish(r *http.Request, status int, c *call, latency time.Duration) {
	s.metrics.request(c.label, status, c.attempts)
	pool := c.pool
	if c.label != c.pool {
		pool = s.red.String(pool)
	}
	attrs := []any{"pool", pool, "credential", c.credentialID, "status", status,
		"attempts", c.attempts, "latency", latency, "method", r.Method}
	if c.route.path != "" {
		attrs = append(attrs, "path", s.red.String(c.route.path))
	}
	if c.reason != "" {
		attrs = append(attrs, "reason", c.reason)
	}
	s.log.Info("gateway request", attrs...)
}

// statusRecorder remembers the status written; Unwrap lets ReverseProxy's
// ResponseController reach the real writer to flush each event.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
