// Package apitype holds the wire types of credpool's socket API: the
// requests and answers of every endpoint, the entry and pool views, events
// and errors. The server, the Go client and the command line all use these
// types, so there is one JSON dialect for one object: a time is epoch
// seconds or null, never 0; an absent string is null, never "".
//
// It imports only pool and quota (for the domain values it converts from), so a
// program that only talks to the daemon pulls in little.
package apitype

// Health is the answer of GET /v1/health.
type Health struct {
	Status       string   `json:"status"` // ok | degraded
	Version      string   `json:"version"`
	AuthFile     string   `json:"auth_file"`
	Pools        int      `json:"pools"`
	Entries      int      `json:"entries"`
	LastReloadAt *float64 `json:"last_reload_at"`
	// LastError says why the daemon is degraded: the file cannot be read,
	// or a write keeps failing.
	LastError *string `json:"last_error"`
	// PendingWrite: changes are answered and served but not yet on disk
	// (the lock is held elsewhere, or the write fails); they are retried.
	PendingWrite bool `json:"pending_write"`
	// Problems are rows of the file credpool cannot use as they are.
	Problems []Problem `json:"problems"`
	// Gateway is the address (host:port) the local provider gateway
	// serves, as bound (a configured port 0 shows the port picked); null
	// when the gateway is off.
	Gateway *string `json:"gateway"`
}

// Problem is a row of auth.json that credpool cannot use as it is.
type Problem struct {
	Provider string `json:"provider"`
	Index    int    `json:"index"` // 1-based row of the provider's pool in the file
	ID       string `json:"id"`
	What     string `json:"what"`
}

// MaxWaitMS is the longest wait a select may ask for.
const MaxWaitMS = 30000

// SelectRequest is the body of POST /v1/pools/{provider}/select.
type SelectRequest struct {
	Strategy string `json:"strategy,omitempty"`
	Lease    bool   `json:"lease,omitempty"`
	WaitMS   int    `json:"wait_ms,omitempty"` // 0..MaxWaitMS
	// Model skips credentials benched for that model ("" skips those
	// benched for any model).
	Model string `json:"model,omitempty"`
	// Exclude lists credential ids not to hand out (ones just tried).
	Exclude []string `json:"exclude,omitempty"`
}

// Credential is what an agent needs to make a call. It never carries the
// refresh token.
type Credential struct {
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

// Lease is a claim on a credential that ends by itself at ExpiresAt.
type Lease struct {
	ID        string  `json:"id"`
	ExpiresAt float64 `json:"expires_at"`
}

// SelectResponse is the 200 answer of a select.
type SelectResponse struct {
	Credential Credential `json:"credential"`
	Lease      *Lease     `json:"lease,omitempty"`
}

// ReportRequest is the body of POST /v1/pools/{provider}/report.
// StatusCode is required.
type ReportRequest struct {
	CredentialID  string     `json:"credential_id,omitempty"`
	LeaseID       string     `json:"lease_id,omitempty"`
	APIKeyHint    string     `json:"api_key_hint,omitempty"`
	StatusCode    int        `json:"status_code"`
	Reason        string     `json:"reason,omitempty"`
	Message       string     `json:"message,omitempty"`
	ResetAt       FlexString `json:"reset_at,omitempty"`
	RetryAfter    FlexString `json:"retry_after,omitempty"`
	FailureReason string     `json:"failure_reason,omitempty"`
	// Model is the model the call used: some answers bench a credential
	// for that model only.
	Model string `json:"model,omitempty"`
	// Headers are the provider's response headers (at most 64, values
	// bounded): the rate-limit ones are read, every other is ignored.
	Headers map[string]string `json:"headers,omitempty"`
	// NoNext: the caller selects its next credential itself (with its own
	// exclude list, as the gateway does), so the answer picks none: a
	// next picked here would be counted, and the caller's own select would
	// count it again.
	NoNext bool `json:"no_next,omitempty"`
}

// Persistence says whether an answered change is on disk. An answer that
// reports a change is sent after the change is written; when auth.lock
// could not be had in time, Persisted is false, PersistError says why,
// and the daemon serves the change and keeps retrying the write.
type Persistence struct {
	Persisted    bool   `json:"persisted"`
	PersistError string `json:"persist_error,omitempty"`
}

// Marked is the entry a report marked.
type Marked struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Until  *float64 `json:"until"`           // cooldown end; null for DEAD
	Model  string   `json:"model,omitempty"` // a cooldown for this model only
}

// ReportResponse is the answer of a report. Marked is null when nothing was
// marked, Next when no other credential is available.
type ReportResponse struct {
	Marked *Marked     `json:"marked"`
	Next   *Credential `json:"next"`
	// RetryAfterS is set when the provider asked for a short wait (at most
	// the long_wait setting) and no other credential is available: the
	// caller may wait that long and retry the same credential. A longer
	// wait is never passed on: the caller rotates, and its next select's
	// 503 says when one is back.
	RetryAfterS *float64 `json:"retry_after_s,omitempty"`
	// Stale: the report named a token (api_key_hint) or a lease of a pair
	// the credential has replaced since (a refresh, a re-login), so it
	// marked nothing; next is the credential as it is now.
	Stale bool `json:"stale,omitempty"`
	Persistence
}

// AddRequest is the body of POST /v1/pools/{provider}/entries.
// AccessToken is required.
type AddRequest struct {
	Label        string `json:"label,omitempty"`
	AuthType     string `json:"auth_type,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	BaseURL      string `json:"base_url,omitempty"`
	Priority     *int   `json:"priority,omitempty"`
}

// AddResponse is the 201 answer of an add.
type AddResponse struct {
	Entry Entry `json:"entry"`
	Persistence
}

// RemoveResponse is the answer of DELETE /v1/pools/{provider}/entries/{target}.
type RemoveResponse struct {
	Removed Entry `json:"removed"`
	Persistence
}

// ResetRequest is the body of POST /v1/pools/{provider}/reset.
type ResetRequest struct {
	Target string `json:"target,omitempty"`
}

// ResetResponse is the answer of a reset: how many entries had a verdict.
type ResetResponse struct {
	Reset int `json:"reset"`
	Persistence
}

// RepairResponse is the answer of POST /v1/pools/{provider}/repair: how
// many rows with a duplicated id got an id of their own.
type RepairResponse struct {
	Repaired int `json:"repaired"`
	Persistence
}

// Entry is an entry for people and dashboards: no secret, tokens only as
// the last 4 characters of the access token.
type Entry struct {
	ID               string             `json:"id"`
	Label            string             `json:"label"`
	AuthType         string             `json:"auth_type"`
	Priority         int                `json:"priority"`
	Source           string             `json:"source"`
	TokenHint        *string            `json:"token_hint"`
	BaseURL          *string            `json:"base_url"`
	ExpiresAt        *float64           `json:"expires_at"`
	RequestCount     int                `json:"request_count"`
	Status           string             `json:"status"` // ok | exhausted | dead (an ended cooldown reads ok)
	Available        bool               `json:"available"`
	Until            *float64           `json:"until"` // cooldown end
	Leases           int                `json:"leases"`
	LastStatusAt     *float64           `json:"last_status_at"`
	LastErrorCode    *int               `json:"last_error_code"`
	LastErrorReason  *string            `json:"last_error_reason"`
	LastErrorMessage *string            `json:"last_error_message"`
	LastErrorResetAt *float64           `json:"last_error_reset_at"`
	FailureReason    *string            `json:"failure_reason"`
	StatusClearedAt  *float64           `json:"status_cleared_at"`
	PruneAt          *float64           `json:"prune_at"` // when a manual DEAD entry is pruned
	ModelCooldowns   map[string]float64 `json:"model_cooldowns"`
	// Quota lists the live budget windows the provider's rate-limit
	// headers announced; null when none.
	Quota []QuotaWindow `json:"quota"`
	// QuotaUntil is when the credential has budget again (for a caller
	// that does not know its model); null when it has budget now.
	QuotaUntil *float64 `json:"quota_until"`
	Unreadable []string `json:"unreadable"`
	// OAuth: a refresh in flight, why the last one failed, when the
	// tokens were last refreshed (as the writer put it).
	Refreshing   bool    `json:"refreshing"`
	RefreshError *string `json:"refresh_error"`
	LastRefresh  *string `json:"last_refresh"`
	// External: the tokens are another tool's login (Source names the
	// tool) and never written to auth.json; LoginBroken says why that
	// login cannot be used now.
	External    bool    `json:"external"`
	LoginBroken *string `json:"login_broken"`
}

// QuotaWindow is one budget window of a credential, as the provider's last
// answer that spoke of it described it. Numbers the provider did not send
// are null; a 0 it sent is 0.
type QuotaWindow struct {
	// Key names the budget, family/window: openai/requests,
	// anthropic/input-tokens, anthropic-unified/5h, codex/primary,
	// http/retry-after.
	Key string `json:"key"`
	// Model is the model family the budget applies to; null: every model.
	Model       *string  `json:"model"`
	Remaining   *float64 `json:"remaining"`
	Limit       *float64 `json:"limit"`
	Utilization *float64 `json:"utilization"` // fraction used, 0..1
	// Left is the fraction of the budget left, 0..1, as credpool ranks it.
	Left *float64 `json:"left"`
	// Exhausted is the provider's own "no" (unified status rejected, a
	// Retry-After).
	Exhausted bool `json:"exhausted"`
	// ResetAt is when the window refills: the provider's reset, or 60 s
	// after it was seen when the provider gave none.
	ResetAt float64 `json:"reset_at"`
	SeenAt  float64 `json:"seen_at"`
	// Blocking: this window keeps the credential out of rotation now.
	Blocking bool `json:"blocking"`
	// Tightest: the window with the least budget left, which the headroom
	// strategy ranks the credential by.
	Tightest bool `json:"tightest"`
}

// Pool is one provider's pool for people and dashboards.
type Pool struct {
	Provider        string    `json:"provider"`
	Strategy        string    `json:"strategy"`
	Entries         []Entry   `json:"entries"`
	Available       int       `json:"available"`
	NextAvailableAt *float64  `json:"next_available_at"`
	Problems        []Problem `json:"problems"`
}

// Pools is the answer of GET /v1/pools.
type Pools struct {
	Pools []Pool `json:"pools"`
}

// Event is one line of the /v1/events stream. Type is one of the entry.*
// kinds or file.reloaded / file.error.
type Event struct {
	Type     string  `json:"type"`
	At       float64 `json:"at"`
	Provider string  `json:"provider,omitempty"`
	ID       string  `json:"id,omitempty"`
	Label    string  `json:"label,omitempty"`
	Code     int     `json:"code,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	Until    float64 `json:"until,omitempty"`
	Model    string  `json:"model,omitempty"`
	Cause    string  `json:"cause,omitempty"`
	Message  string  `json:"message,omitempty"`
}
