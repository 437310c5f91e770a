package socketapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/credpool/credpool/pool"
)

// Backend is what the server serves; the daemon implements it.
type Backend interface {
	Health() Health
	Pools() []pool.PoolView
	Pool(provider string) (pool.PoolView, error)
	// Select blocks up to wait (0 = no wait) until a credential is available;
	// ctx ends with the request.
	Select(ctx context.Context, provider string, req SelectRequest) (SelectResponse, error)
	Report(provider string, req ReportRequest) (ReportResponse, error)
	Release(leaseID string) error
	AddEntry(provider string, req AddRequest) (pool.EntryView, error)
	RemoveEntry(provider, target string) (pool.EntryView, error)
	Reset(provider, target string) (int, error)
	// Subscribe returns a channel of events until ctx ends; the daemon drops
	// events for (or cuts off) a follower that does not keep up.
	Subscribe(ctx context.Context) <-chan Event
	Stats() Stats
}

// Health is the answer of GET /v1/health.
type Health struct {
	Status       string  `json:"status"` // ok | degraded
	Version      string  `json:"version"`
	AuthFile     string  `json:"auth_file"`
	Pools        int     `json:"pools"`
	Entries      int     `json:"entries"`
	LastReloadAt float64 `json:"last_reload_at"`
	LastError    string  `json:"last_error"`
}

// MaxWaitMS is the longest wait a select may ask for.
const MaxWaitMS = 30000

// SelectRequest is the body of POST /v1/pools/{provider}/select. WaitMS must
// be within 0..MaxWaitMS.
type SelectRequest struct {
	Strategy string `json:"strategy,omitempty"`
	Lease    bool   `json:"lease,omitempty"`
	WaitMS   int    `json:"wait_ms,omitempty"`
}

// SelectResponse is the 200 answer of a select.
type SelectResponse struct {
	Credential pool.Credential `json:"credential"`
	Lease      *pool.Lease     `json:"lease,omitempty"`
}

// ReportRequest is the body of POST /v1/pools/{provider}/report. StatusCode
// is required.
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
}

// ReportResponse is the answer of a report. Marked is nil when nothing was
// marked, Next when no other credential is available.
type ReportResponse struct {
	Marked *pool.Marked     `json:"marked"`
	Next   *pool.Credential `json:"next"`
}

// AddRequest is the body of POST /v1/pools/{provider}/entries. AccessToken is
// required.
type AddRequest struct {
	Label        string `json:"label,omitempty"`
	AuthType     string `json:"auth_type,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	BaseURL      string `json:"base_url,omitempty"`
	Priority     *int   `json:"priority,omitempty"`
}

// resetRequest is the body of POST /v1/pools/{provider}/reset.
type resetRequest struct {
	Target string `json:"target,omitempty"`
}

// Event is one line of the /v1/events stream. Type is one of pool's
// ChangeKind values or file.reloaded / file.error.
type Event struct {
	Type     string  `json:"type"`
	At       float64 `json:"at"`
	Provider string  `json:"provider,omitempty"`
	ID       string  `json:"id,omitempty"`
	Label    string  `json:"label,omitempty"`
	Code     int     `json:"code,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	Until    float64 `json:"until,omitempty"`
	Cause    string  `json:"cause,omitempty"`
	Message  string  `json:"message,omitempty"`
}

// Stats are the daemon's counters that /metrics exports.
type Stats struct {
	// Transitions counts changes of status by new status: ok, exhausted, dead.
	Transitions  map[string]uint64
	Reloads      uint64
	ReloadErrors uint64
	Prunes       uint64
}

// FlexString is a JSON value that may be sent as a number or a string; it
// keeps the text (a number keeps its literal text, so 1.7e9 stays "1.7e9") and
// leaves parsing to pool, which knows what a reset time or Retry-After means.
type FlexString string

var errFlexString = errors.New("must be a number or a string")

// UnmarshalJSON accepts a JSON string, number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = FlexString(b)
	default:
		return errFlexString
	}
	return nil
}

// MarshalJSON writes a number when the text is a JSON number, else a string.
func (f FlexString) MarshalJSON() ([]byte, error) {
	if isJSONNumber(string(f)) {
		return []byte(f), nil
	}
	return json.Marshal(string(f))
}

// isJSONNumber reports whether s is a JSON number literal, which is a subset
// of what strconv.ParseFloat accepts (no "Inf", "0x1p3", "+1", "1_0", ".5").
func isJSONNumber(s string) bool {
	if s == "" || !json.Valid([]byte(s)) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	c := s[0]
	return err == nil && (c == '-' || (c >= '0' && c <= '9'))
}
