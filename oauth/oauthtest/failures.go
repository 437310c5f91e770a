package oauthtest

import (
	"net/http"
	"time"
)

// Failure is an answer the fake gives instead of a token. The zero value
// answers normally.
type Failure struct {
	Status     int           // HTTP status; 0 answers normally (after Delay)
	Code       string        // OAuth error code in the body
	Message    string        // error_description (or message); the refresh token is appended
	Body       string        // a raw body to answer with Status (200 when 0), e.g. a malformed token
	RetryAfter string        // Retry-After header
	Location   string        // Location header (a redirect)
	Delay      time.Duration // wait before answering; ends when the request is cancelled
}

// Failures the real endpoints give.
var (
	InvalidGrant = Failure{Status: http.StatusBadRequest, Code: "invalid_grant"}
	Reused       = Failure{Status: http.StatusBadRequest, Code: "refresh_token_reused"}
	ServerError  = Failure{Status: http.StatusInternalServerError}
)

// RateLimited answers 429 with the given Retry-After ("" for none).
func RateLimited(retryAfter string) Failure {
	return Failure{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: retryAfter}
}

// Slow answers normally after d, unless the request is cancelled first.
func Slow(d time.Duration) Failure { return Failure{Delay: d} }

// Redirect answers with a redirect to location.
func Redirect(status int, location string) Failure {
	return Failure{Status: status, Location: location}
}
