package socketapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/quota"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Health())
}

func (s *Server) handlePools(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, apitype.PoolsFrom(s.b.Pools()))
}

func (s *Server) handlePool(w http.ResponseWriter, r *http.Request) {
	v, err := s.b.Pool(r.PathValue("provider"))
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitype.PoolFrom(v))
}

func (s *Server) handleSelect(w http.ResponseWriter, r *http.Request) {
	var req apitype.SelectRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	if msg := checkSelect(req); msg != "" {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, msg)
		return
	}
	ctx := r.Context()
	if req.WaitMS > 0 {
		// Let a shutdown end the wait at once. (ReadTimeout does not end it:
		// net/http lifts the read deadline once the body is read.)
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.stop, cancel)()
	}
	provider := r.PathValue("provider")
	sel, err := s.b.Select(ctx, provider, req)
	if err != nil {
		var none *pool.NoneAvailableError
		switch {
		case ctx.Err() != nil && r.Context().Err() == nil:
			// The stop ended the wait, whatever the backend made of it
			// (a backend that sees its context end first answers "none").
			s.writeBackendError(w, r, apitype.ErrShuttingDown)
		case errors.As(err, &none):
			s.metrics.selection(provider, "none")
			s.writeNoneAvailable(w, none)
		default:
			s.writeBackendError(w, r, err)
		}
		return
	}
	s.metrics.selection(provider, "ok")
	writeJSON(w, http.StatusOK, apitype.SelectResponse{
		Credential: apitype.CredentialFrom(sel.Credential), Lease: apitype.LeaseFrom(sel.Lease)})
}

// Limits of what a select or report names besides its body size: a
// gateway retries a few keys; an id credpool or Hermes makes is 6 hex
// digits; a model is stored in auth.json (model_cooldowns) and shown.
const (
	maxExclude = 64
	maxIDRunes = 64
	maxModel   = 200
)

// checkSelect validates a select's fields; it returns the 400 message, or "".
func checkSelect(req apitype.SelectRequest) string {
	if req.WaitMS < 0 || req.WaitMS > apitype.MaxWaitMS {
		return fmt.Sprintf("wait_ms must be between 0 and %d", apitype.MaxWaitMS)
	}
	if msg := checkText("model", req.Model, maxModel); msg != "" {
		return msg
	}
	if len(req.Exclude) > maxExclude {
		return fmt.Sprintf("exclude lists more than %d ids", maxExclude)
	}
	for i, id := range req.Exclude {
		if msg := checkText(fmt.Sprintf("exclude[%d]", i), id, maxIDRunes); msg != "" {
			return msg
		}
	}
	return ""
}

// checkText is the one rule for the short texts a request names (a model,
// an id): at most max characters, each one printable on a status line. It
// returns the 400 message, or "".
func checkText(field, s string, max int) string {
	if utf8.RuneCountInString(s) > max || !pool.Printable(s) {
		return fmt.Sprintf("%s must be at most %d characters, with no control or bidirectional-override character", field, max)
	}
	return ""
}

// maxRetryAfter bounds the Retry-After header: a cooldown to the year 9999
// is "a long time", not an overflow.
const maxRetryAfter = epoch.MaxDelay

// writeNoneAvailable writes select's 503. NextAvailableAt is 0 when nothing
// the select could take will come back by itself (the message says why);
// then both times are null and no Retry-After is sent.
func (s *Server) writeNoneAvailable(w http.ResponseWriter, none *pool.NoneAvailableError) {
	next := none.NextAvailableAt
	body := apitype.NoneAvailableBody{ErrorBody: apitype.ErrorBody{Error: apitype.ErrorDetail{
		Code:    apitype.CodeNoneAvailable,
		Message: fmt.Sprintf("no credential of %s is available", pool.Quote(none.Provider)),
	}}}
	if next > 0 {
		wait := math.Min(math.Max(0, epoch.Until(next, s.opts.Now())), maxRetryAfter)
		wait = math.Ceil(wait*1000) / 1000
		body.NextAvailableAt, body.RetryAfterS = &next, &wait
		secs := strconv.FormatInt(int64(math.Max(1, math.Ceil(wait))), 10)
		w.Header().Set("Retry-After", secs)
		body.Error.Message += "; retry in " + secs + " s"
	} else {
		body.Error.Message += ": " + none.Why()
	}
	writeJSON(w, http.StatusServiceUnavailable, body)
}

// reportWire decodes a report with status_code's presence visible and the
// two flexible times raw, so that errors can name the field.
type reportWire struct {
	CredentialID  string            `json:"credential_id"`
	LeaseID       string            `json:"lease_id"`
	APIKeyHint    string            `json:"api_key_hint"`
	StatusCode    *int              `json:"status_code"`
	Reason        string            `json:"reason"`
	Message       string            `json:"message"`
	ResetAt       json.RawMessage   `json:"reset_at"`
	RetryAfter    json.RawMessage   `json:"retry_after"`
	FailureReason string            `json:"failure_reason"`
	Model         string            `json:"model"`
	Headers       map[string]string `json:"headers"`
	NoNext        bool              `json:"no_next"`
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	var wire reportWire
	if !decodeBody(w, r, &wire, false) {
		return
	}
	req, msg := wire.toRequest()
	if msg != "" {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, msg)
		return
	}
	provider := r.PathValue("provider")
	res, err := s.b.Report(r.Context(), provider, req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	s.metrics.report(provider, req.StatusCode)
	s.metrics.modelCooldown(provider, res.Marked)
	out := apitype.ReportResponse{Marked: apitype.MarkedFrom(res.Marked), Stale: res.Stale, Persistence: res.Persistence}
	if res.RetryAfter > 0 {
		wait := math.Ceil(res.RetryAfter*1000) / 1000
		out.RetryAfterS = &wait
	}
	if res.Next != nil {
		c := apitype.CredentialFrom(*res.Next)
		out.Next = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// toRequest validates the wire form; msg is the 400 message, or "".
func (rw reportWire) toRequest() (apitype.ReportRequest, string) {
	if rw.StatusCode == nil {
		return apitype.ReportRequest{}, "status_code is required"
	}
	if *rw.StatusCode < 100 || *rw.StatusCode > 599 {
		return apitype.ReportRequest{}, "status_code must be an HTTP status code (100-599)"
	}
	if msg := checkText("model", rw.Model, maxModel); msg != "" {
		return apitype.ReportRequest{}, msg
	}
	if err := quota.Check(rw.Headers); err != nil {
		return apitype.ReportRequest{}, "headers: " + err.Error()
	}
	req := apitype.ReportRequest{
		CredentialID: rw.CredentialID, LeaseID: rw.LeaseID, APIKeyHint: rw.APIKeyHint,
		StatusCode: *rw.StatusCode, Reason: rw.Reason, Message: rw.Message,
		FailureReason: rw.FailureReason, Model: rw.Model, Headers: rw.Headers, NoNext: rw.NoNext,
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *apitype.FlexString
	}{{"reset_at", rw.ResetAt, &req.ResetAt}, {"retry_after", rw.RetryAfter, &req.RetryAfter}} {
		if len(f.raw) == 0 {
			continue
		}
		if err := f.dst.UnmarshalJSON(f.raw); err != nil {
			return apitype.ReportRequest{}, f.name + ": must be a number or a string"
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

// addWire decodes an add with priority as a raw number, so that a value the
// reader could not read back (beyond 2^53) is refused naming the field.
type addWire struct {
	Label        string      `json:"label"`
	AuthType     string      `json:"auth_type"`
	AccessToken  string      `json:"access_token"`
	RefreshToken string      `json:"refresh_token"`
	BaseURL      string      `json:"base_url"`
	Priority     json.Number `json:"priority"`
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	var wire addWire
	if !decodeBody(w, r, &wire, false) {
		return
	}
	if strings.TrimSpace(wire.AccessToken) == "" {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, "access_token is required")
		return
	}
	req := apitype.AddRequest{Label: wire.Label, AuthType: wire.AuthType, AccessToken: wire.AccessToken,
		RefreshToken: wire.RefreshToken, BaseURL: wire.BaseURL}
	if wire.Priority != "" {
		n, err := strconv.ParseInt(string(wire.Priority), 10, 64)
		if err != nil || n < 0 || n > pool.MaxSafeInt {
			writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, "priority must be a whole number between 0 and 2^53")
			return
		}
		p := int(n)
		req.Priority = &p
	}
	e, pers, err := s.b.AddEntry(r.Context(), r.PathValue("provider"), req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitype.AddResponse{Entry: apitype.EntryFrom(e), Persistence: pers})
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	e, pers, err := s.b.RemoveEntry(r.Context(), r.PathValue("provider"), r.PathValue("target"))
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitype.RemoveResponse{Removed: apitype.EntryFrom(e), Persistence: pers})
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	var req apitype.ResetRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	n, pers, err := s.b.Reset(r.Context(), r.PathValue("provider"), req.Target)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitype.ResetResponse{Reset: n, Persistence: pers})
}

func (s *Server) handleRepair(w http.ResponseWriter, r *http.Request) {
	if !decodeBody(w, r, &struct{}{}, true) {
		return
	}
	n, pers, err := s.b.Repair(r.Context(), r.PathValue("provider"))
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitype.RepairResponse{Repaired: n, Persistence: pers})
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
