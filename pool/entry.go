// Package pool is credpool's domain: credential entries and their statuses, the
// state machine of DESIGN §1, selection strategies, leases, prune, re-auth
// adoption and the admin operations. It is pure logic: no I/O, and every
// time-dependent decision takes its time from an injected clock, so the daemon,
// the CLI and the tests all get the same answers for the same inputs.
package pool

import "encoding/json"

// Status is the on-disk status of an entry. The zero value ("") is what Hermes
// writes as null and means the same as StatusOK.
type Status string

const (
	StatusOK        Status = "ok"
	StatusExhausted Status = "exhausted"
	StatusDead      Status = "dead"
)

// Entry is one credential of a provider's pool, as Hermes stores it in
// auth.json's credential_pool. Nullable numbers use 0 for null and nullable
// strings use "" for null: no real epoch time or HTTP code is 0, and Hermes
// treats an empty reason like a missing one. authfile's field table is the
// one place that maps these fields to their JSON members; a test there fails
// when a field here has no row in it.
type Entry struct {
	ID           string `json:"id"`
	Label        string `json:"label"`
	AuthType     string `json:"auth_type"` // "api_key" | "oauth"
	Priority     int    `json:"priority"`
	Source       string `json:"source"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	BaseURL      string `json:"base_url"`
	// ExpiresAt is the token expiry in epoch seconds (from expires_at as number
	// or ISO string, or expires_at_ms); 0 when unknown.
	ExpiresAt float64 `json:"expires_at"`
	// LastRefresh is when the tokens were last refreshed, as the writer put it
	// (ISO text).
	LastRefresh  string `json:"last_refresh"`
	RequestCount int    `json:"request_count"`
	// SecretFingerprint is all a borrowed source (a login owned by another
	// tool, an environment variable) keeps on disk of its secret:
	// "sha256:" + 16 hex digits.
	SecretFingerprint string `json:"secret_fingerprint"`

	StatusFields

	// StatusClearedAt is when a deliberate reset last cleared the status
	// (epoch seconds, 0 = never): the signal that ends every verdict
	// observed before it.
	StatusClearedAt float64 `json:"status_cleared_at"`
	// ModelCooldowns is {model: epoch until}: the credential is benched for
	// those models only. ModelCooldownObservedAt is {model: epoch} of when
	// each was observed, for ordering against a reset.
	ModelCooldowns          map[string]float64 `json:"model_cooldowns"`
	ModelCooldownObservedAt map[string]float64 `json:"model_cooldown_observed_at"`

	// Extra holds every field credpool does not know, verbatim, so that a
	// read-modify-write gives them back unchanged. A known field whose value
	// could not be read is kept here too, byte for byte, and named in
	// Unreadable.
	Extra map[string]json.RawMessage `json:"-"`
	// Unreadable names the known fields whose on-disk value could not be
	// interpreted. Such an entry is never handed out; status and health say
	// which field is at fault.
	Unreadable []string `json:"-"`
}

// StatusFields are the fields every transition sets and every recovery
// clears (DESIGN §1, plus Hermes' newer failure_reason).
type StatusFields struct {
	LastStatus       Status  `json:"last_status"`
	LastStatusAt     float64 `json:"last_status_at"` // epoch seconds
	LastErrorCode    int     `json:"last_error_code"`
	LastErrorReason  string  `json:"last_error_reason"`
	LastErrorMessage string  `json:"last_error_message"`
	LastErrorResetAt float64 `json:"last_error_reset_at"` // epoch seconds
	// FailureReason qualifies the failure: "billing", "billing_unverified"
	// or "model_entitlement" (Hermes writes it; "" = none).
	FailureReason string `json:"failure_reason"`
}

// Tokens is the token material of an entry or a provider singleton.
type Tokens struct {
	AccessToken  string
	RefreshToken string
}

// Singleton is the per-provider login that Hermes keeps under
// providers.<provider> (tokens.access_token, or access_token at its top level
// as the nous provider does).
type Singleton struct {
	Tokens
}

// Snapshot is what a reader found on disk: every pool and every singleton.
type Snapshot struct {
	Pools      map[string][]Entry
	Singletons map[string]Singleton
}

// Credential is what an agent needs to make a call. It never carries the
// refresh token.
type Credential struct {
	ID           string  `json:"id"`
	Provider     string  `json:"provider"`
	Label        string  `json:"label"`
	AuthType     string  `json:"auth_type"`
	Source       string  `json:"source"`
	AccessToken  string  `json:"access_token"`
	BaseURL      string  `json:"base_url"`
	ExpiresAt    float64 `json:"expires_at"`
	Priority     int     `json:"priority"`
	RequestCount int     `json:"request_count"`
}
