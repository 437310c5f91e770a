package apitype

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/credpool/credpool/pool"
)

// ErrorBody is the wire form of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NoneAvailableBody is select's 503: the error plus when to come back, both
// null when only DEAD entries remain.
type NoneAvailableBody struct {
	ErrorBody
	NextAvailableAt *float64 `json:"next_available_at"`
	RetryAfterS     *float64 `json:"retry_after_s"`
}

// Error codes of the API's error bodies.
const (
	CodeBadRequest       = "bad_request"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeUnknownPool      = "unknown_pool"
	CodeUnknownLease     = "unknown_lease"
	CodeUnknownEntry     = "unknown_entry"
	CodeAmbiguousTarget  = "ambiguous_target"
	CodeNoneAvailable    = "no_available_credential"
	CodeShuttingDown     = "shutting_down"
	CodeInternal         = "internal"
)

// ErrShuttingDown is what the daemon answers while it stops: retry at once,
// against the next daemon.
var ErrShuttingDown = errors.New("the daemon is shutting down")

// errorKind ties a code to its HTTP status and the sentinel callers test
// with errors.Is, in both directions: the server maps an error to a code,
// the client maps a code back to the sentinel.
type errorKind struct {
	code   string
	status int
	err    error
}

// errorTable is the one place these are decided. Order matters for the
// server: the first sentinel an error matches decides.
var errorTable = []errorKind{
	{CodeUnknownPool, http.StatusNotFound, pool.ErrUnknownPool},
	{CodeUnknownLease, http.StatusNotFound, pool.ErrUnknownLease},
	{CodeUnknownEntry, http.StatusNotFound, pool.ErrNoTarget},
	{CodeAmbiguousTarget, http.StatusConflict, pool.ErrAmbiguousTarget},
	{CodeBadRequest, http.StatusBadRequest, pool.ErrBadInput},
	{CodeBadRequest, http.StatusBadRequest, pool.ErrUnknownStrategy},
	{CodeNoneAvailable, http.StatusServiceUnavailable, pool.ErrNoneAvailable},
	{CodeShuttingDown, http.StatusServiceUnavailable, ErrShuttingDown},
	{CodeForbidden, http.StatusForbidden, nil},
	{CodeNotFound, http.StatusNotFound, nil},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, nil},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, nil},
	{CodeInternal, http.StatusInternalServerError, nil},
}

// CodeOf maps an error of the backend to its code and status; ok is false
// for an error no sentinel matches (an internal error).
func CodeOf(err error) (code string, status int, ok bool) {
	for _, k := range errorTable {
		if k.err != nil && errors.Is(err, k.err) {
			return k.code, k.status, true
		}
	}
	return CodeInternal, http.StatusInternalServerError, false
}

// StatusOf is the HTTP status of a code.
func StatusOf(code string) int {
	for _, k := range errorTable {
		if k.code == code {
			return k.status
		}
	}
	return http.StatusInternalServerError
}

// sentinelOf is the sentinel of a code, nil if none.
func sentinelOf(code string) error {
	for _, k := range errorTable {
		if k.code == code && k.err != nil {
			return k.err
		}
	}
	return nil
}

// Codes lists every error code, for the API reference's test.
func Codes() []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range errorTable {
		if !seen[k.code] {
			seen[k.code] = true
			out = append(out, k.code)
		}
	}
	return out
}

// APIError is an error answer of the API, as a client sees it.
type APIError struct {
	Status  int    // HTTP status
	Code    string // one of the Code* constants, or "http_<status>" for an answer that is not the API's
	Message string
	// NextAvailableAt and RetryAfterS come with a 503 from select; nil when
	// unknown (only DEAD entries remain).
	NextAvailableAt *float64
	RetryAfterS     *float64
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("credpool: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("credpool: %s: %s", e.Code, e.Message)
}

// Unwrap maps the code to its sentinel, so that callers can test with
// errors.Is(err, pool.ErrNoneAvailable) and the like.
func (e *APIError) Unwrap() error { return sentinelOf(e.Code) }
