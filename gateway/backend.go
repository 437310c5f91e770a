package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Credential is what Backend.Select hands out: enough to call the provider.
type Credential struct {
	ID          string
	Provider    string
	AccessToken string
	// AuthType is "api_key" or "oauth"; it decides the header form for
	// Anthropic (x-api-key, or Bearer plus the OAuth beta).
	AuthType string
	// BaseURL, when set, is this credential's upstream base and wins over
	// Config.Upstreams and the default table.
	BaseURL string
}

// Auth types of a Credential.
const (
	AuthAPIKey = "api_key"
	AuthOAuth  = "oauth"
)

// Backend is the pool, as the gateway needs it. The daemon implements it.
type Backend interface {
	// Select picks an available credential of pool for model ("" =
	// unknown), never one whose id is in exclude. Errors: ErrUnknownPool;
	// a *NoneAvailableError carrying RetryAt.
	Select(ctx context.Context, pool, model string, exclude []string) (Credential, error)
	// Report tells the pool how the upstream answered: every answer, 2xx
	// included.
	Report(ctx context.Context, pool string, r Report)
}

// Report is one upstream answer (or the failure to get one).
type Report struct {
	CredentialID string
	// AccessToken is the token the request used: an answer to a token the
	// credential has replaced since (a refresh, a re-login) is about that
	// token, not the credential's new one.
	AccessToken string
	Model       string
	StatusCode  int
	// Header is the upstream's response headers (rate-limit and reset
	// headers live there); nil when no answer came.
	Header http.Header
	// Reason and Message come from an error body (error.code or
	// error.type, and error.message), or name the gateway's own finding
	// (ReasonNetwork, ReasonStreamInterrupted).
	Reason  string
	Message string
}

// Reasons the gateway reports on its own account, with StatusCode 502.
const (
	// ReasonNetwork: the upstream could not be reached or broke before
	// sending headers.
	ReasonNetwork = "upstream_unreachable"
	// ReasonStreamInterrupted: the upstream answered 2xx and its body broke
	// off half way.
	ReasonStreamInterrupted = "stream_interrupted"
)

// ErrUnknownPool is Select's answer for a pool the Backend does not have.
var ErrUnknownPool = errors.New("unknown pool")

// NoneAvailableError is Select's answer when every credential of the pool is
// cooling down, dead or excluded.
type NoneAvailableError struct {
	Pool string
	// RetryAt is when the first credential comes back, in epoch seconds;
	// 0 when none comes back by itself (only dead ones remain).
	RetryAt float64
}

func (e *NoneAvailableError) Error() string {
	return fmt.Sprintf("pool %q: no credential available", e.Pool)
}
