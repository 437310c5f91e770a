package pool

import (
	"math"
	"strings"
	"time"
)

// Cooldowns of DESIGN §1.
const (
	ttlUnauthorized = 300.0  // 401 without a terminal reason
	ttlDefault      = 3600.0 // 429, 402, 5xx and everything else
	ttlSole         = 60.0   // cap for a sole credential (not billing)
	maxMessageRunes = 512    // last_error_message kept on disk
)

// terminalReasons make a 401 DEAD.
var terminalReasons = map[string]bool{
	"token_invalidated":    true,
	"token_revoked":        true,
	"invalid_token":        true,
	"invalid_grant":        true,
	"unauthorized_client":  true,
	"refresh_token_reused": true,
}

func isTerminal(code int, reason string) bool {
	return code == 401 && terminalReasons[strings.ToLower(strings.TrimSpace(reason))]
}

// ttlFor is the cooldown of an HTTP code, in seconds.
func ttlFor(code int) float64 {
	if code == 401 {
		return ttlUnauthorized
	}
	return ttlDefault
}

// norm maps the on-disk status to one of the three states; null, "ok" and
// any value credpool does not know read as OK.
func norm(s Status) Status {
	switch s {
	case StatusExhausted, StatusDead:
		return s
	}
	return StatusOK
}

// until is the cooldown end of an EXHAUSTED entry, derived from the file's
// fields alone so that every process computes the same.
func until(sf *StatusFields) float64 {
	if sf.LastErrorResetAt > 0 {
		return sf.LastErrorResetAt
	}
	return sf.LastStatusAt + ttlFor(sf.LastErrorCode)
}

// cooling reports whether the entry is EXHAUSTED and its cooldown still runs.
func cooling(sf *StatusFields, now float64) bool {
	return sf.LastStatus == StatusExhausted && until(sf) > now
}

// available is the one definition of "can be handed out".
func (e *entryState) available(now float64) bool {
	if e.AccessToken == "" {
		return false
	}
	switch e.LastStatus {
	case StatusDead:
		return false
	case StatusExhausted:
		return until(&e.StatusFields) <= now
	}
	return true
}

func (e *entryState) tokens() Tokens {
	return Tokens{AccessToken: e.AccessToken, RefreshToken: e.RefreshToken}
}

func (e *entryState) credential(provider string) Credential {
	return Credential{
		ID:           e.ID,
		Provider:     provider,
		Label:        e.Label,
		AuthType:     e.AuthType,
		Source:       e.Source,
		AccessToken:  e.AccessToken,
		BaseURL:      e.BaseURL,
		ExpiresAt:    e.ExpiresAt,
		Priority:     e.Priority,
		RequestCount: e.RequestCount,
	}
}

// prunable: only entries a person added by hand are pruned; entries seeded
// from a singleton or the environment would come back anyway.
func prunable(source string) bool {
	return source == "manual" || strings.HasPrefix(source, "manual:")
}

// epoch converts t to epoch seconds without overflowing for far dates.
func epoch(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

func fromEpoch(sec float64) time.Time {
	// Epoch floats hold about microseconds; finer digits are noise.
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3)
}

// setStatus replaces the six status fields and queues the urgent patch that
// writes them. BaseTokens are the entry's tokens: the mark is about them.
func (p *Pool) setStatus(pp *provPool, e *entryState, sf StatusFields, now float64) {
	e.StatusFields = sf
	pt := p.patch(pp.name, e.ID)
	pt.Urgent = true
	pt.Status = &sf
	pt.At = now
	pt.BaseTokens = e.tokens()
}

// recoverEntry clears the status and says why.
func (p *Pool) recoverEntry(pp *provPool, e *entryState, now float64, cause string) Change {
	p.setStatus(pp, e, StatusFields{}, now)
	return Change{
		Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
		At: now, Reason: recoverReason(cause), Cause: cause,
	}
}

func recoverReason(cause string) string {
	switch cause {
	case "ttl":
		return "cooldown"
	case "admin":
		return "reset"
	}
	return cause
}

// statusChange describes an entry's current status as a change decided by
// cause (used when another process set it).
func statusChange(provider string, e *entryState, now float64, cause string) Change {
	c := Change{Provider: provider, ID: e.ID, Label: e.Label, At: now, Cause: cause}
	switch e.LastStatus {
	case StatusDead:
		c.Kind, c.Code, c.Reason = ChangeDead, e.LastErrorCode, e.LastErrorReason
	case StatusExhausted:
		c.Kind, c.Code, c.Reason = ChangeExhausted, e.LastErrorCode, e.LastErrorReason
		c.Until = until(&e.StatusFields)
	default:
		c.Kind, c.Reason = ChangeRecovered, recoverReason(cause)
	}
	if c.Kind != ChangeRecovered && e.LastStatusAt > 0 {
		c.At = e.LastStatusAt
	}
	return c
}

func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
