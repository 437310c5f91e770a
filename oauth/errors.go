package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/epoch"
)

// Kind is what a failed refresh means for the credential.
type Kind int

const (
	// Transient: a 5xx, a timeout, a network error, or any answer that is
	// neither terminal nor a rate limit. Retry with backoff; the credential
	// is not at fault as far as anyone can tell.
	Transient Kind = iota
	// Terminal: the credential is dead (invalid_grant, invalid_token,
	// refresh_token_reused, unauthorized_client, or a status the provider
	// uses only for a dead grant). Only a new login brings it back.
	Terminal
	// RateLimited: the token endpoint answered 429. A cooldown, not death;
	// RetryAfter says for how long when the provider said.
	RateLimited
)

func (k Kind) String() string {
	switch k {
	case Terminal:
		return "terminal"
	case RateLimited:
		return "rate limited"
	}
	return "transient"
}

// Error is a failed refresh. Its text carries the provider, the kind, the
// HTTP status, the provider's OAuth error code and a short fixed reason:
// never a token, never the response body (a body may echo the token).
type Error struct {
	Provider   string
	Kind       Kind
	Status     int     // HTTP status of the answer; 0 when there was none
	Code       string  // the OAuth "error" code (e.g. invalid_grant); "" when none
	RetryAfter float64 // seconds from Retry-After on a 429; 0 when absent
	Reason     string  // a short fixed text, e.g. "timeout"
	cause      error   // a sentinel or a context error, never the body
	notSent    bool    // the request never reached the endpoint (DNS, connect): the token is unspent
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth: %s refresh: %s", e.Provider, e.Kind)
	var parts []string
	if e.Status != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		parts = append(parts, e.Code)
	}
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	if e.RetryAfter > 0 {
		parts = append(parts, "retry after "+strconv.FormatFloat(e.RetryAfter, 'f', -1, 64)+"s")
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	return b.String()
}

// Unwrap gives errors.Is the cause: context.DeadlineExceeded,
// context.Canceled, ErrRedirect or ErrEndpoint, when one applies.
func (e *Error) Unwrap() error { return e.cause }

func transient(provider, reason string, cause error) *Error {
	return &Error{Provider: provider, Kind: Transient, Reason: reason, cause: cause}
}

func withReasonPrefix(e *Error, prefix string) *Error {
	e.Reason = prefix + e.Reason
	return e
}

// transportError classifies an exchange that got no answer. ctx is the
// request's context, so a deadline it hit reads as a timeout.
func transportError(ctx context.Context, provider string, err error) *Error {
	if errors.Is(err, ErrRedirect) {
		return transient(provider, "redirect refused", ErrRedirect)
	}
	e := noAnswer(ctx, provider, err)
	var dns *net.DNSError
	var op *net.OpError
	e.notSent = errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
	return e
}

func noAnswer(ctx context.Context, provider string, err error) *Error {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return transient(provider, "canceled", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return transient(provider, "timeout", context.DeadlineExceeded)
	}
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return transient(provider, "dns lookup failed", nil)
	case errors.As(err, &op) && op.Op == "dial":
		return transient(provider, "connect failed", nil)
	}
	return transient(provider, "network error", nil)
}

// terminalCodes are OAuth error codes that mean the grant is gone.
var terminalCodes = map[string]bool{
	"invalid_grant":        true,
	"invalid_token":        true,
	"refresh_token_reused": true,
	"unauthorized_client":  true,
}

// httpError classifies an answer that is not a token: status and headers of
// the response, the OAuth error code and description (from x/oauth2's
// RetrieveError or from our own parse). The description decides, it is
// never kept.
func httpError(name string, p *provider, status int, h http.Header, code, desc string, now time.Time) *Error {
	e := &Error{Provider: name, Status: status, Code: safeCode(code)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = RateLimited
		e.RetryAfter = retryAfter(h.Get("Retry-After"), now)
	case terminalCodes[e.Code], mentionsReuse(desc), slices.Contains(p.terminalStatus, status):
		// Nous words a reuse as a description under another code.
		e.Kind = Terminal
	default:
		e.Kind = Transient
	}
	if status >= 200 && status < 300 {
		e.Reason = "error in a success answer"
	}
	return e
}

func mentionsReuse(desc string) bool {
	return strings.Contains(strings.ToLower(desc), "reuse")
}

// safeCode keeps an error code only when it looks like one (short, lower
// case, [a-z0-9_.-]): a code field that echoes a token is dropped.
func safeCode(code string) string {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 64 {
		return ""
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ""
		}
	}
	return code
}

// errorFields reads the OAuth error of a body in either shape: RFC 6749
// {"error": "code", "error_description": "..."} or OpenAI's
// {"error": {"code": "...", "type": "...", "message": "..."}}, which
// x/oauth2 cannot parse.
func errorFields(body []byte) (code, desc string) {
	var doc struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Message          string          `json:"message"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", ""
	}
	desc = doc.ErrorDescription
	if desc == "" {
		desc = doc.Message
	}
	if json.Unmarshal(doc.Error, &code) == nil {
		return code, desc
	}
	var nested struct {
		Code    string `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(doc.Error, &nested) != nil {
		return "", desc
	}
	code = nested.Code
	if code == "" {
		code = nested.Type
	}
	if nested.Message != "" {
		desc = nested.Message
	}
	return code, desc
}

// retryAfter is Retry-After (delta-seconds or an HTTP date, read by
// epoch.ParseRetryAfter) as seconds from now; 0 when absent, unreadable or
// past.
func retryAfter(v string, now time.Time) float64 {
	at, err := epoch.ParseRetryAfter(v, now)
	if err != nil {
		return 0
	}
	return max(epoch.Until(at, now), 0)
}
