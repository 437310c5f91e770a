package pool

// This file is the contract between pool and its users (authfile, daemon, CLI).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/credpool/credpool/quota"
)

// Strategy names a selection strategy (DESIGN §3).
type Strategy string

const (
	FillFirst  Strategy = "fill_first"
	RoundRobin Strategy = "round_robin"
	LeastUsed  Strategy = "least_used"
	Random     Strategy = "random"
	// Headroom picks the available credential with the most quota budget
	// left (from the providers' rate-limit headers); ties go to the one
	// that resets soonest, then by priority.
	Headroom Strategy = "headroom"
)

// Sentinels for errors.Is.
var (
	ErrUnknownPool     = errors.New("unknown pool")
	ErrNoneAvailable   = errors.New("no available credential")
	ErrUnknownStrategy = errors.New("unknown strategy")
	ErrNoTarget        = errors.New("no entry matches target")
	ErrAmbiguousTarget = errors.New("target matches more than one entry")
	ErrUnknownLease    = errors.New("unknown lease")
	ErrBadInput        = errors.New("bad input")
	// ErrStale: what the call was about has changed meanwhile (another
	// process rotated the tokens first).
	ErrStale = errors.New("changed meanwhile")
)

// NoneAvailableError is returned by Select when nothing can be handed out.
// NextAvailableAt is the earliest moment an entry the select could take
// becomes available by time, in epoch seconds; 0 when none will by itself.
type NoneAvailableError struct {
	Provider        string
	NextAvailableAt float64
	// Refreshing: a refresh of an entry of the pool is in flight; a
	// caller may wait for it.
	Refreshing bool
	// Excluded: NextAvailableAt is 0 because the select's Exclude names
	// every entry that is or will become available; without Excluded,
	// only DEAD, tokenless, expired or unreadable entries remain.
	Excluded bool
}

func (e *NoneAvailableError) Error() string {
	if why := e.Why(); why != "" {
		return fmt.Sprintf("pool %s: %s: %s", Quote(e.Provider), ErrNoneAvailable, why)
	}
	return fmt.Sprintf("pool %s: %s", Quote(e.Provider), ErrNoneAvailable)
}

// Why says, for people, why nothing will come back by itself when
// NextAvailableAt is 0; "" when something will.
func (e *NoneAvailableError) Why() string {
	switch {
	case e.NextAvailableAt > 0:
		return ""
	case e.Excluded:
		return "the request excludes every one that is or will become available"
	}
	return "none will recover by itself (only dead, tokenless, expired or unreadable entries remain)"
}
func (e *NoneAvailableError) Unwrap() error { return ErrNoneAvailable }

// Config tunes a Pool. Zero values take the defaults noted.
type Config struct {
	// Strategies per provider; providers not listed use DefaultStrategy.
	Strategies      map[string]Strategy
	DefaultStrategy Strategy      // default FillFirst
	MaxLeases       int           // leases per credential, default 1
	LeaseTTL        time.Duration // default 10m
	// PruneDeadAfter is how long a manual DEAD entry is kept; 0 = never prune.
	PruneDeadAfter time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand drives the random strategy and new ids; default a random seed.
	Rand *rand.Rand
	// QuotaThreshold is the utilization (0..1) of a provider's budget at
	// which a credential is skipped until the budget resets; 0 = 0.98.
	QuotaThreshold float64
	// LongWait: a 429 whose Retry-After is longer benches the credential
	// and rotates without telling the caller to wait; a shorter one tells
	// the caller to wait that long (Retry-After in the answer). 0 = 60 s.
	LongWait time.Duration
}

// ChangeKind names a change of state; the values are the event types of the
// API.
type ChangeKind string

const (
	ChangeExhausted ChangeKind = "entry.exhausted"
	ChangeDead      ChangeKind = "entry.dead"
	ChangeRecovered ChangeKind = "entry.recovered"
	ChangePruned    ChangeKind = "entry.pruned"
	ChangeAdded     ChangeKind = "entry.added"
	ChangeRemoved   ChangeKind = "entry.removed"
	// ChangeModelCooldown: the entry is benched for one model (Model).
	ChangeModelCooldown ChangeKind = "entry.model_cooldown"
)

// Change describes one change of state for events, logs and metrics. It never
// carries a secret.
type Change struct {
	Kind     ChangeKind
	Provider string
	ID       string
	Label    string
	At       float64 // epoch seconds
	Code     int     // HTTP code for exhausted/dead
	Reason   string  // provider reason for exhausted/dead; cause for recovered ("cooldown", "reauth", "reset", "file")
	Until    float64 // cooldown end for exhausted and model cooldowns, 0 otherwise
	Model    string  // the model of a model cooldown
	// Cause says who decided it: "report", "file" (another process wrote it),
	// "ttl", "reauth", "admin", "prune".
	Cause string
}

// SelectOptions are the knobs of one selection.
type SelectOptions struct {
	Strategy Strategy // "" = the pool's configured strategy
	Lease    bool
	// Model is the model the caller will use: entries benched for it are
	// skipped. "" skips entries benched for any model.
	Model string
	// Exclude lists entry ids not to hand out (ones the caller just tried).
	Exclude []string
}

// Lease is a claim on a credential that expires after the lease TTL.
type Lease struct {
	ID        string  `json:"id"`
	Provider  string  `json:"-"`
	EntryID   string  `json:"-"`
	ExpiresAt float64 `json:"expires_at"`
	// gen is the pair the lease handed out: a report on the lease is
	// about that pair, whatever the entry holds by then.
	gen generation
}

// Selection is the answer to Select.
type Selection struct {
	Credential Credential
	Lease      *Lease
	Changes    []Change // e.g. recoveries noticed while selecting
}

// Report is an agent's account of how the provider answered.
type Report struct {
	CredentialID string
	LeaseID      string
	APIKeyHint   string // the token the agent used
	StatusCode   int
	Reason       string
	Message      string
	// ResetAt: epoch seconds, epoch milliseconds (> 1e12) or ISO-8601 text.
	ResetAt string
	// RetryAfter: delta-seconds or an HTTP-date.
	RetryAfter string
	// FailureReason: "billing", "billing_unverified", "model_entitlement".
	FailureReason string
	// Model is the model the call used ("" unknown): some answers bench a
	// credential for that model only.
	Model string
	// Headers are the provider's response headers (lower-case names): the
	// rate-limit ones are recorded (a 200 report records quota and marks
	// nothing), and retry-after counts when RetryAfter is empty.
	Headers map[string]string
	// NoNext: the caller selects its next credential itself; the report
	// picks none (and counts none).
	NoNext bool
}

// Marked is the entry a report marked.
type Marked struct {
	ID     string  `json:"id"`
	Status Status  `json:"status"`
	Until  float64 `json:"until"` // 0 for DEAD
	// Model is set when the mark is a cooldown for that model only; the
	// credential stays OK for the others.
	Model string `json:"model,omitempty"`
}

// ReportResult is the answer to Report.
type ReportResult struct {
	Marked    *Marked     // nil when nothing matched (or the code marks nothing, e.g. 2xx)
	Unmatched bool        // the identity matched no entry
	Next      *Credential // the next credential, nil if none is available
	Changes   []Change
	// RetryAfter is set (seconds) when the provider asked for a short wait
	// (at most Config.LongWait) and no other credential is available: the
	// caller may wait that long and retry the same one.
	RetryAfter float64
	// Ignored names headers whose values could not be trusted (debug log).
	Ignored []string
	// RefreshWanted: a 401 without a terminal reason on an OAuth entry;
	// its tokens are to be refreshed now.
	RefreshWanted bool
	// Stale: the report is about a pair the entry no longer holds (the
	// token it names, or its lease's, was refreshed or replaced since),
	// so it marks nothing: a verdict belongs to the pair it was observed
	// on.
	Stale bool
}

// NewEntry is what an admin supplies to add a credential.
type NewEntry struct {
	Label        string
	AuthType     string // default "api_key"
	AccessToken  string
	RefreshToken string
	BaseURL      string
	Priority     *int // nil = after the last
}

// EntryView is an entry for people and dashboards: no secrets.
type EntryView struct {
	ID               string  `json:"id"`
	Label            string  `json:"label"`
	AuthType         string  `json:"auth_type"`
	Priority         int     `json:"priority"`
	Source           string  `json:"source"`
	TokenHint        string  `json:"token_hint"` // last 4 characters of the access token, "" if none
	BaseURL          string  `json:"base_url"`
	ExpiresAt        float64 `json:"expires_at"`
	RequestCount     int     `json:"request_count"`
	Status           Status  `json:"status"` // ok | exhausted | dead (an ended cooldown reads ok)
	Available        bool    `json:"available"`
	Until            float64 `json:"until"` // cooldown end, 0 if none
	Leases           int     `json:"leases"`
	LastStatusAt     float64 `json:"last_status_at"`
	LastErrorCode    int     `json:"last_error_code"`
	LastErrorReason  string  `json:"last_error_reason"`
	LastErrorMessage string  `json:"last_error_message"`
	LastErrorResetAt float64 `json:"last_error_reset_at"`
	// PruneAt is when a manual DEAD entry will be pruned, 0 if never.
	PruneAt float64 `json:"prune_at"`
	// FailureReason qualifies the last failure (billing, model_entitlement).
	FailureReason string `json:"failure_reason"`
	// StatusClearedAt is when a deliberate reset last cleared the status.
	StatusClearedAt float64 `json:"status_cleared_at"`
	// ModelCooldowns are the models the entry is benched for now, by end.
	ModelCooldowns map[string]float64 `json:"model_cooldowns"`
	// Quota is what the providers' rate-limit headers last said of the
	// credential's budgets: the live windows, with which of them block and
	// which one binds (package quota decides both). Its wire form is
	// apitype's.
	Quota []quota.Reading `json:"-"`
	// QuotaUntil is when the credential has budget again for a caller that
	// does not know its model, 0 when it has budget now.
	QuotaUntil float64 `json:"quota_until"`
	// Unreadable names fields of the row that could not be read; such an
	// entry is never handed out.
	Unreadable []string `json:"unreadable"`
	// Refreshing: a refresh of its OAuth tokens is in flight;
	// RefreshError says why the last one failed ("" if it did not).
	Refreshing   bool   `json:"refreshing"`
	RefreshError string `json:"refresh_error"`
	LastRefresh  string `json:"last_refresh"`
	// External: the tokens are another tool's login (Source names it),
	// never written to auth.json; LoginBroken says why it cannot be used.
	External    bool   `json:"external"`
	LoginBroken string `json:"login_broken"`
}

// Problem is something in the file credpool cannot use as it is, for health
// and status: it quotes no value.
type Problem struct {
	Provider string `json:"provider"`
	Index    int    `json:"index"` // 1-based row in file order
	ID       string `json:"id"`
	What     string `json:"what"`
}

// PoolView is one provider's pool for people and dashboards.
type PoolView struct {
	Provider        string      `json:"provider"`
	Strategy        Strategy    `json:"strategy"`
	Entries         []EntryView `json:"entries"`
	Available       int         `json:"available"`
	NextAvailableAt float64     `json:"next_available_at"` // 0 = none
	Problems        []Problem   `json:"problems"`
}
