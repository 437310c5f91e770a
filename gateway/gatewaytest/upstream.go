package gatewaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Behaviour is how the fake upstream answers requests made with one key.
type Behaviour string

const (
	// OK answers 200: JSON, or an event stream when the body says
	// "stream": true (the Responses API always streams).
	OK Behaviour = "ok"
	// RateLimited answers 429 rate_limit_exceeded with Retry-After: 30.
	RateLimited Behaviour = "rate_limited"
	// Invalidated answers 401 with error code token_invalidated.
	Invalidated Behaviour = "token_invalidated"
	// Billing answers 402 insufficient_quota.
	Billing Behaviour = "billing"
	// ServerError answers 500.
	ServerError Behaviour = "server_error"
	// Stepped streams the first piece, then one more event per call of
	// Upstream.Step (the last step sends the end), whatever the body asks:
	// a slow stream the test paces, without sleeping.
	Stepped Behaviour = "stepped"
	// Hang streams the first event, then waits for the client to go; the
	// key then arrives on Upstream.Cancelled.
	Hang Behaviour = "hang"
	// Cut streams two events, then the connection dies.
	Cut Behaviour = "cut"
)

// StreamPieces are what a stream says, one piece per event.
var StreamPieces = []string{"hello", " from", " the", " fake", " upstream"}

// Text is what every OK answer says: StreamPieces joined.
var Text = strings.Join(StreamPieces, "")

// Request is what the fake upstream saw of one request.
type Request struct {
	Method, Path, RawQuery string
	// Key is the credential it carried (Bearer token or x-api-key), "" if
	// none.
	Key    string
	Model  string
	Stream bool
	Header http.Header
}

// Upstream is a fake provider on loopback. Its paths end the way the
// providers' do (.../chat/completions, .../messages, .../responses,
// .../models), so any base path in front of them works.
type Upstream struct {
	// URL is the server's root, e.g. http://127.0.0.1:PORT.
	URL string

	srv       *httptest.Server
	mu        sync.Mutex
	keys      map[string]Behaviour
	forget    bool
	requests  []Request
	steps     chan struct{}
	cancelled chan string
}

// NewUpstream starts a fake upstream answering each key as keys says; a
// key not listed gets 401 invalid_api_key. It stops at the end of the test.
func NewUpstream(t testing.TB, keys map[string]Behaviour) *Upstream {
	u := StartUpstream(keys)
	t.Cleanup(u.Close)
	return u
}

// StartUpstream is NewUpstream for a program that is no test
// (credpool-bench measures the gateway against this same fake); Close
// stops it.
func StartUpstream(keys map[string]Behaviour) *Upstream {
	u := &Upstream{keys: keys, steps: make(chan struct{}), cancelled: make(chan string, 16)}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	return u
}

// Close stops the server, once every request under way has ended.
func (u *Upstream) Close() { u.srv.Close() }

// Requests are the requests seen so far, in order.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.requests...)
}

// StopRecording makes the upstream keep no more requests (for benchmarks,
// whose millions of requests would fill the memory).
func (u *Upstream) StopRecording() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.forget = true
}

// Keys are the keys of the requests seen so far, in order.
func (u *Upstream) Keys() []string {
	var out []string
	for _, r := range u.Requests() {
		out = append(out, r.Key)
	}
	return out
}

// Step lets a Stepped stream send its next event; it blocks until the
// stream takes it (or gives up after 10 s, when the test has gone wrong).
func (u *Upstream) Step() error {
	select {
	case u.steps <- struct{}{}:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("gatewaytest: no stepped stream is waiting for a step")
	}
}

// Cancelled delivers the key of each Hang stream whose client went away.
func (u *Upstream) Cancelled() <-chan string { return u.cancelled }

func keyOf(h http.Header) string {
	if a := h.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer ")
	}
	return h.Get("X-Api-Key")
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(body, &req)
	key := keyOf(r.Header)
	u.mu.Lock()
	if !u.forget {
		u.requests = append(u.requests, Request{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Key: key,
			Model: req.Model, Stream: req.Stream, Header: r.Header.Clone(),
		})
	}
	b, known := u.keys[key]
	u.mu.Unlock()

	api := apiOf(r.URL.Path)
	if api == apiModels {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}}})
		return
	}
	if !known {
		// As OpenAI does: the message quotes the key.
		writeJSON(w, http.StatusUnauthorized, api.errorBody("invalid_api_key", "authentication_error", "Incorrect API key provided: "+key))
		return
	}
	model := req.Model
	switch b {
	case RateLimited:
		w.Header().Set("Retry-After", "30")
		w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
		w.Header().Set("X-Ratelimit-Reset-Requests", "30s")
		writeJSON(w, http.StatusTooManyRequests, api.errorBody("rate_limit_exceeded", "rate_limit_error", "Rate limit reached for requests"))
	case Invalidated:
		writeJSON(w, http.StatusUnauthorized, api.errorBody("token_invalidated", "authentication_error", "Your authentication token has been invalidated."))
	case Billing:
		writeJSON(w, http.StatusPaymentRequired, api.errorBody("insufficient_quota", "billing_error", "You exceeded your current quota."))
	case ServerError:
		writeJSON(w, http.StatusInternalServerError, api.errorBody("server_error", "api_error", "The server had an error."))
	case Stepped, Hang, Cut:
		u.stream(w, r, api, model, b, key)
	default:
		w.Header().Set("X-Ratelimit-Remaining-Requests", "99")
		if req.Stream || api == apiResponses {
			u.stream(w, r, api, model, OK, key)
			return
		}
		writeJSON(w, http.StatusOK, api.message(model))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// stream writes an event stream of api's kind, paced as b says.
func (u *Upstream) stream(w http.ResponseWriter, r *http.Request, a api, model string, b Behaviour, key string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	pre, pieces, post := a.events(model)
	send := func(frames ...string) {
		for _, f := range frames {
			_, _ = io.WriteString(w, f)
		}
		fl.Flush()
	}
	step := func() bool {
		select {
		case <-u.steps:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	send(pre...)
	for i, p := range pieces {
		switch {
		case b == Stepped && i > 0 && !step():
			return
		case b == Hang && i == 1:
			<-r.Context().Done()
			u.cancelled <- key
			return
		case b == Cut && i == 2:
			panic(http.ErrAbortHandler) // the server drops the connection mid-body
		}
		send(p)
	}
	if b == Stepped && !step() {
		return
	}
	send(post...)
}
