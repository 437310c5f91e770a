package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/credpool/credpool/tokeninfo"
)

// dialect is the API family a pool speaks. It decides two things that must
// agree: how the gateway's own errors are written, and how a credential is
// put on the upstream request.
type dialect int

const (
	dialectOpenAI dialect = iota
	dialectAnthropic
)

// dialectOf is the one place that decides a pool's dialect. Everything not
// Anthropic's own API is OpenAI-compatible.
func dialectOf(pool string) dialect {
	if pool == "anthropic" || strings.HasPrefix(pool, "anthropic-") {
		return dialectAnthropic
	}
	return dialectOpenAI
}

// anthropicOAuthBeta is the beta flag Anthropic's API wants with an OAuth
// access token (a Claude subscription login) instead of an API key.
const anthropicOAuthBeta = "oauth-2025-04-20"

// credentialHeaders are the request headers that carry a client's
// credential. All are removed before the selected credential is set, so the
// gateway token never reaches a provider. ChatGPT-Account-Id names the
// account of the client's own ChatGPT login, which is not the account of the
// pooled token.
var credentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key",
	"X-Goog-Api-Key", "Chatgpt-Account-Id",
}

// setCredential puts c on h in the form the pool's provider expects.
func (d dialect) setCredential(h http.Header, c Credential) {
	for _, k := range credentialHeaders {
		h.Del(k)
	}
	if d == dialectAnthropic && c.AuthType != AuthOAuth {
		h.Set("X-Api-Key", c.AccessToken)
		return
	}
	h.Set("Authorization", "Bearer "+c.AccessToken)
	switch {
	case d == dialectAnthropic:
		h.Set("Anthropic-Beta", mergeBeta(h.Values("Anthropic-Beta"), anthropicOAuthBeta))
	case c.AuthType == AuthOAuth:
		// ChatGPT's backend (openai-codex) wants the account of the token
		// beside it; the token is a JWT that names it.
		if id := tokeninfo.ChatGPTAccountID(c.AccessToken); id != "" {
			h.Set("Chatgpt-Account-Id", id)
		}
	}
}

// mergeBeta joins the client's anthropic-beta values (comma lists, possibly
// in several headers) with flag, once.
func mergeBeta(values []string, flag string) string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	if !seen[flag] {
		out = append(out, flag)
	}
	return strings.Join(out, ",")
}

// apiError is an error the gateway answers itself, in the pool's dialect.
type apiError struct {
	status  int
	code    string // OpenAI's error.code; also our reason in logs
	message string
	// header is extra response headers (Retry-After, x-should-retry).
	header http.Header
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// ownError names one of the gateway's own answers.
type ownError int

const (
	errInvalidAPIKey ownError = iota
	errHostNotAllowed
	errOriginNotAllowed
	errAbsoluteURL
	errBadRequestBody
	errUnknownPool
	errNoUpstream
	errRequestTooLarge
	errNoCredential
	errUpstreamUnreachable
	errBadUpstream
	errUpstreamError
	errPoolUnavailable
	numOwnErrors
)

// ownErrors is each of the gateway's own answers: its status and its code
// (OpenAI's error.code, and the reason in the log line and the metrics).
// README.md's table shows them, and a test holds the two together.
var ownErrors = [numOwnErrors]struct {
	status int
	code   string
}{
	errInvalidAPIKey:       {http.StatusUnauthorized, "invalid_api_key"},
	errHostNotAllowed:      {http.StatusForbidden, "host_not_allowed"},
	errOriginNotAllowed:    {http.StatusForbidden, "origin_not_allowed"},
	errAbsoluteURL:         {http.StatusBadRequest, "absolute_url"},
	errBadRequestBody:      {http.StatusBadRequest, "bad_request_body"},
	errUnknownPool:         {http.StatusNotFound, "unknown_pool"},
	errNoUpstream:          {http.StatusNotFound, "no_upstream"},
	errRequestTooLarge:     {http.StatusRequestEntityTooLarge, "request_too_large"},
	errNoCredential:        {http.StatusTooManyRequests, "no_credential_available"},
	errUpstreamUnreachable: {http.StatusBadGateway, ReasonNetwork},
	errBadUpstream:         {http.StatusBadGateway, "bad_upstream"},
	errUpstreamError:       {http.StatusBadGateway, "upstream_error"},
	errPoolUnavailable:     {http.StatusServiceUnavailable, "pool_unavailable"},
}

// newError is the answer k, saying message.
func newError(k ownError, message string) *apiError {
	return &apiError{status: ownErrors[k].status, code: ownErrors[k].code, message: message}
}

// errorTypes maps a status to OpenAI's error.type and Anthropic's.
var errorTypes = map[int][2]string{
	http.StatusBadRequest:            {"invalid_request_error", "invalid_request_error"},
	http.StatusUnauthorized:          {"invalid_request_error", "authentication_error"},
	http.StatusForbidden:             {"invalid_request_error", "permission_error"},
	http.StatusNotFound:              {"invalid_request_error", "not_found_error"},
	http.StatusRequestEntityTooLarge: {"invalid_request_error", "request_too_large"},
	http.StatusTooManyRequests:       {"rate_limit_error", "rate_limit_error"},
	http.StatusBadGateway:            {"server_error", "api_error"},
	http.StatusServiceUnavailable:    {"server_error", "overloaded_error"},
}

// body renders e in the dialect's error format.
func (d dialect) errorBody(e *apiError) []byte {
	types, ok := errorTypes[e.status]
	if !ok {
		types = [2]string{"server_error", "api_error"}
	}
	var v any
	if d == dialectAnthropic {
		v = map[string]any{"type": "error", "error": map[string]string{"type": types[1], "message": e.message}}
	} else {
		v = map[string]any{"error": map[string]string{"message": e.message, "type": types[0], "code": e.code}}
	}
	b, _ := json.Marshal(v) // maps of strings always marshal
	return b
}

func (d dialect) writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	_, _ = w.Write(d.errorBody(e))
}
