package socketapi

import (
	"errors"
	"fmt"

	"github.com/credpool/credpool/pool"
)

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

// ErrDaemonNotRunning is returned by the client when nothing listens on the
// socket (it does not exist, or the connection is refused) even after the dial
// retries.
var ErrDaemonNotRunning = errors.New("credpool daemon is not running")

// APIError is an error answer of the API.
type APIError struct {
	Status  int    // HTTP status
	Code    string // one of the Code* constants
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

// Unwrap maps the code to pool's sentinel so that callers can test with
// errors.Is(err, pool.ErrNoneAvailable) and the like.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case CodeNoneAvailable:
		return pool.ErrNoneAvailable
	case CodeUnknownPool:
		return pool.ErrUnknownPool
	case CodeUnknownLease:
		return pool.ErrUnknownLease
	case CodeUnknownEntry:
		return pool.ErrNoTarget
	case CodeAmbiguousTarget:
		return pool.ErrAmbiguousTarget
	case CodeBadRequest:
		return pool.ErrBadInput
	}
	return nil
}

// errorBody is the wire form of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// noneAvailableBody is the 503 answer of select: the error plus when to come
// back, both null when only DEAD entries remain.
type noneAvailableBody struct {
	errorBody
	NextAvailableAt *float64 `json:"next_available_at"`
	RetryAfterS     *float64 `json:"retry_after_s"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
