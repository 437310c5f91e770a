package socketapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/pool"
)

type route struct {
	method, path string
	h            http.HandlerFunc
}

// routes builds the mux. Every path also gets a method-less pattern that
// answers 405 in JSON (the mux's own 405 is plain text), and "/" answers 404.
func (s *Server) routes() http.Handler {
	rs := []route{
		{http.MethodGet, "/v1/health", s.handleHealth},
		{http.MethodGet, "/v1/pools", s.handlePools},
		{http.MethodGet, "/v1/pools/{provider}", s.handlePool},
		{http.MethodPost, "/v1/pools/{provider}/select", s.handleSelect},
		{http.MethodPost, "/v1/pools/{provider}/report", s.handleReport},
		{http.MethodPost, "/v1/leases/{lease_id}/release", s.handleRelease},
		{http.MethodPost, "/v1/pools/{provider}/entries", s.handleAdd},
		{http.MethodDelete, "/v1/pools/{provider}/entries/{target}", s.handleRemove},
		{http.MethodPost, "/v1/pools/{provider}/reset", s.handleReset},
		{http.MethodGet, "/v1/events", s.handleEvents},
		{http.MethodGet, "/metrics", s.metrics.handler(s.log).ServeHTTP},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range rs {
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, s.metrics.instrument(pattern, rt.h))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
	})
	return mux
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Health())
}

func (s *Server) handlePools(w http.ResponseWriter, r *http.Request) {
	views := s.b.Pools()
	out := struct {
		Pools []wirePool `json:"pools"`
	}{Pools: make([]wirePool, 0, len(views))}
	for _, v := range views {
		out.Pools = append(out.Pools, toWirePool(v))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePool(w http.ResponseWriter, r *http.Request) {
	v, err := s.b.Pool(r.PathValue("provider"))
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWirePool(v))
}

func (s *Server) handleSelect(w http.ResponseWriter, r *http.Request) {
	var req SelectRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	if req.WaitMS < 0 || req.WaitMS > MaxWaitMS {
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("wait_ms must be between 0 and %d", MaxWaitMS))
		return
	}
	ctx := r.Context()
	if req.WaitMS > 0 {
		// Let a shutdown end the wait at once. (ReadTimeout does not end it:
		// net/http lifts the read deadline once the body is read.)
		var stop func() bool
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop = context.AfterFunc(s.stop, cancel)
		defer stop()
	}
	provider := r.PathValue("provider")
	resp, err := s.b.Select(ctx, provider, req)
	if err != nil {
		var none *pool.NoneAvailableError
		switch {
		case errors.As(err, &none) || errors.Is(err, pool.ErrNoneAvailable):
			s.metrics.selection(provider, "none")
			next := 0.0
			if none != nil {
				next = none.NextAvailableAt
			}
			s.writeNoneAvailable(w, provider, next)
		case ctx.Err() != nil && r.Context().Err() == nil:
			// The server is shutting down: the client may retry at once
			// against the next daemon.
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, CodeShuttingDown, "the daemon is shutting down")
		default:
			s.writeBackendError(w, r, err)
		}
		return
	}
	s.metrics.selection(provider, "ok")
	writeJSON(w, http.StatusOK, wireSelect{Credential: toWireCredential(resp.Credential), Lease: resp.Lease})
}

// writeNoneAvailable writes select's 503; next is 0 when only DEAD entries
// remain, and then both times are null and no Retry-After is sent.
func (s *Server) writeNoneAvailable(w http.ResponseWriter, provider string, next float64) {
	body := noneAvailableBody{errorBody: errorBody{Error: errorDetail{
		Code:    CodeNoneAvailable,
		Message: fmt.Sprintf("no credential of %q is available", provider),
	}}}
	if next > 0 {
		now := float64(s.opts.Now().UnixNano()) / 1e9
		wait := math.Max(0, next-now)
		wait = math.Ceil(wait*1000) / 1000
		body.NextAvailableAt, body.RetryAfterS = &next, &wait
		secs := strconv.FormatInt(int64(math.Max(1, math.Ceil(wait))), 10)
		w.Header().Set("Retry-After", secs)
		body.Error.Message += "; retry in " + secs + " s"
	} else {
		body.Error.Message += " and none will recover by itself (only dead or tokenless entries remain)"
	}
	writeJSON(w, http.StatusServiceUnavailable, body)
}

// reportWire decodes a report with status_code's presence visible and the
// two flexible times raw, so that errors can name the field.
type reportWire struct {
	CredentialID  string          `json:"credential_id"`
	LeaseID       string          `json:"lease_id"`
	APIKeyHint    string          `json:"api_key_hint"`
	StatusCode    *int            `json:"status_code"`
	Reason        string          `json:"reason"`
	Message       string          `json:"message"`
	ResetAt       json.RawMessage `json:"reset_at"`
	RetryAfter    json.RawMessage `json:"retry_after"`
	FailureReason string          `json:"failure_reason"`
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	var wire reportWire
	if !decodeBody(w, r, &wire, false) {
		return
	}
	req, msg := wire.toRequest()
	if msg != "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, msg)
		return
	}
	provider := r.PathValue("provider")
	resp, err := s.b.Report(provider, req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.metrics.report(provider, req.StatusCode)
	out := wireReport{}
	if resp.Marked != nil {
		out.Marked = &wireMarked{ID: resp.Marked.ID, Status: resp.Marked.Status, Until: nullable(resp.Marked.Until)}
	}
	if resp.Next != nil {
		c := toWireCredential(*resp.Next)
		out.Next = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// toRequest validates the wire form; msg is the 400 message, or "".
func (rw reportWire) toRequest() (ReportRequest, string) {
	if rw.StatusCode == nil {
		return ReportRequest{}, "status_code is required"
	}
	if *rw.StatusCode < 100 || *rw.StatusCode > 599 {
		return ReportRequest{}, "status_code must be an HTTP status code (100-599)"
	}
	req := ReportRequest{
		CredentialID: rw.CredentialID, LeaseID: rw.LeaseID, APIKeyHint: rw.APIKeyHint,
		StatusCode: *rw.StatusCode, Reason: rw.Reason, Message: rw.Message,
		FailureReason: rw.FailureReason,
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *FlexString
	}{{"reset_at", rw.ResetAt, &req.ResetAt}, {"retry_after", rw.RetryAfter, &req.RetryAfter}} {
		if len(f.raw) == 0 {
			continue
		}
		if err := f.dst.UnmarshalJSON(f.raw); err != nil {
			return ReportRequest{}, f.name + ": must be a number or a string"
		}
	}
	return req, ""
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Release(r.PathValue("lease_id")); err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if strings.TrimSpace(req.AccessToken) == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "access_token is required")
		return
	}
	e, err := s.b.AddEntry(r.PathValue("provider"), req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Entry wireEntry `json:"entry"`
	}{toWireEntry(e)})
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	e, err := s.b.RemoveEntry(r.PathValue("provider"), r.PathValue("target"))
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Removed wireEntry `json:"removed"`
	}{toWireEntry(e)})
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	n, err := s.b.Reset(r.PathValue("provider"), req.Target)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Reset int `json:"reset"`
	}{n})
}

// eventWriteTimeout cuts off a follower that stops reading, so that its
// handler does not hang on a full socket buffer.
const eventWriteTimeout = 10 * time.Second

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.stop, cancel)()

	events := s.b.Subscribe(ctx)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			if err := enc.Encode(ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// decodeBody reads a JSON object into v, answering 400 or 413 itself and
// returning false on failure. An empty body is fine when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "reading the request body failed")
		}
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "a JSON request body is required")
		return false
	}
	if msg := decodeJSON(body, v); msg != "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, msg)
		return false
	}
	return true
}

// maxEchoedName bounds an unknown field name echoed in an error: a name is
// caller's text and the caller might have pasted a token as a key.
const maxEchoedName = 40

// decodeJSON decodes exactly one JSON object without unknown fields into v
// and returns "" or a message naming the problem without echoing a value.
func decodeJSON(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Sprintf("unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return ""
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ") // "number 1.5" → "number": no value
		if typ.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", got)
		}
		return fmt.Sprintf("field %s: expected %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), got)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil && len(n) <= maxEchoedName {
			return fmt.Sprintf("unknown field %q", n)
		}
		return "unknown field (name too long to repeat)"
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "ptr":
		return "a number"
	}
	return goKind
}

// writeBackendError maps the backend's error to a status and code. Backend
// errors never carry secrets (pool and daemon guarantee it), so their text is
// passed on.
func (s *Server) writeBackendError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, CodeInternal
	switch {
	case errors.Is(err, pool.ErrUnknownPool):
		status, code = http.StatusNotFound, CodeUnknownPool
	case errors.Is(err, pool.ErrUnknownLease):
		status, code = http.StatusNotFound, CodeUnknownLease
	case errors.Is(err, pool.ErrNoTarget):
		status, code = http.StatusNotFound, CodeUnknownEntry
	case errors.Is(err, pool.ErrAmbiguousTarget):
		status, code = http.StatusConflict, CodeAmbiguousTarget
	case errors.Is(err, pool.ErrBadInput), errors.Is(err, pool.ErrUnknownStrategy):
		status, code = http.StatusBadRequest, CodeBadRequest
	case errors.Is(err, pool.ErrNoneAvailable):
		status, code = http.StatusServiceUnavailable, CodeNoneAvailable
	case r.Context().Err() != nil:
		return // the client is gone; nobody reads an answer
	default:
		s.log.Error("socketapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, code, err.Error())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Wire forms: pool's views use 0 and "" for "none"; the API says null, as
// auth.json does. Decoding null into pool's types gives 0 and "" back.

func nullable(f float64) *float64 {
	if f == 0 {
		return nil
	}
	return &f
}

func nullableInt(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

func nullableString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type wireCredential struct {
	ID           string   `json:"id"`
	Provider     string   `json:"provider"`
	Label        string   `json:"label"`
	AuthType     string   `json:"auth_type"`
	Source       string   `json:"source"`
	AccessToken  string   `json:"access_token"`
	BaseURL      *string  `json:"base_url"`
	ExpiresAt    *float64 `json:"expires_at"`
	Priority     int      `json:"priority"`
	RequestCount int      `json:"request_count"`
}

func toWireCredential(c pool.Credential) wireCredential {
	return wireCredential{
		ID: c.ID, Provider: c.Provider, Label: c.Label, AuthType: c.AuthType, Source: c.Source,
		AccessToken: c.AccessToken, BaseURL: nullableString(c.BaseURL), ExpiresAt: nullable(c.ExpiresAt),
		Priority: c.Priority, RequestCount: c.RequestCount,
	}
}

type wireSelect struct {
	Credential wireCredential `json:"credential"`
	Lease      *pool.Lease    `json:"lease,omitempty"`
}

type wireMarked struct {
	ID     string      `json:"id"`
	Status pool.Status `json:"status"`
	Until  *float64    `json:"until"`
}

type wireReport struct {
	Marked *wireMarked     `json:"marked"`
	Next   *wireCredential `json:"next"`
}

type wireEntry struct {
	ID               string      `json:"id"`
	Label            string      `json:"label"`
	AuthType         string      `json:"auth_type"`
	Priority         int         `json:"priority"`
	Source           string      `json:"source"`
	TokenHint        *string     `json:"token_hint"`
	BaseURL          *string     `json:"base_url"`
	ExpiresAt        *float64    `json:"expires_at"`
	RequestCount     int         `json:"request_count"`
	Status           pool.Status `json:"status"`
	Available        bool        `json:"available"`
	Until            *float64    `json:"until"`
	Leases           int         `json:"leases"`
	LastStatusAt     *float64    `json:"last_status_at"`
	LastErrorCode    *int        `json:"last_error_code"`
	LastErrorReason  *string     `json:"last_error_reason"`
	LastErrorMessage *string     `json:"last_error_message"`
	LastErrorResetAt *float64    `json:"last_error_reset_at"`
	PruneAt          *float64    `json:"prune_at"`
}

func toWireEntry(e pool.EntryView) wireEntry {
	status := e.Status
	if status == "" {
		status = pool.StatusOK
	}
	return wireEntry{
		ID: e.ID, Label: e.Label, AuthType: e.AuthType, Priority: e.Priority, Source: e.Source,
		TokenHint: nullableString(e.TokenHint), BaseURL: nullableString(e.BaseURL),
		ExpiresAt: nullable(e.ExpiresAt), RequestCount: e.RequestCount, Status: status,
		Available: e.Available, Until: nullable(e.Until), Leases: e.Leases,
		LastStatusAt: nullable(e.LastStatusAt), LastErrorCode: nullableInt(e.LastErrorCode),
		LastErrorReason: nullableString(e.LastErrorReason), LastErrorMessage: nullableString(e.LastErrorMessage),
		LastErrorResetAt: nullable(e.LastErrorResetAt), PruneAt: nullable(e.PruneAt),
	}
}

type wirePool struct {
	Provider        string        `json:"provider"`
	Strategy        pool.Strategy `json:"strategy"`
	Entries         []wireEntry   `json:"entries"`
	Available       int           `json:"available"`
	NextAvailableAt *float64      `json:"next_available_at"`
}

func toWirePool(v pool.PoolView) wirePool {
	out := wirePool{
		Provider: v.Provider, Strategy: v.Strategy, Available: v.Available,
		NextAvailableAt: nullable(v.NextAvailableAt), Entries: make([]wireEntry, 0, len(v.Entries)),
	}
	for _, e := range v.Entries {
		out.Entries = append(out.Entries, toWireEntry(e))
	}
	return out
}
