package pool

import (
	"strings"

	"github.com/credpool/credpool/epoch"
)

// Cooldowns of DESIGN §1 and the bounds of the clock rules (docs/DESIGN.md).
const (
	ttlUnauthorized = 300.0  // 401 without a terminal reason
	ttlDefault      = 3600.0 // 429, 402, 5xx and everything else
	ttlSole         = 60.0   // cap for a sole credential (not billing)
	ttlEntitlement  = 2 * 86400.0
	maxMessageRunes = 512 // last_error_message kept on disk

	// clockSkew: a last_status_at or status_cleared_at further ahead of this
	// daemon's clock than this counts as the moment it was read.
	clockSkew = 60.0
	// A stored model cooldown more than maxModelAhead ahead is cut back to
	// modelCutBack from the moment it is read: no model is benched for a
	// month by a writer's bug.
	maxModelAhead = 30 * 86400.0
	modelCutBack  = 2 * 86400.0
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

// Failure reasons Hermes writes into failure_reason.
const (
	FailureBilling           = "billing"
	FailureBillingUnverified = "billing_unverified"
	FailureModelEntitlement  = "model_entitlement"
)

// isBilling: both billing values count as billing for the sole-credential
// rule, as does a 402.
func isBilling(code int, failureReason string) bool {
	switch strings.ToLower(strings.TrimSpace(failureReason)) {
	case FailureBilling, FailureBillingUnverified:
		return true
	}
	return code == 402
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
// fields and the pool alone, so that every process computes the same. A
// sole credential's cooldown (not billing) is capped at 60 s when read, as
// newer Hermes does, so a monthly 429 does not bench the only key for a
// month.
func (pp *provPool) until(sf *StatusFields) float64 {
	u := sf.LastStatusAt + ttlFor(sf.LastErrorCode)
	if sf.LastErrorResetAt > 0 {
		u = sf.LastErrorResetAt
	}
	if pp.sole() && !isBilling(sf.LastErrorCode, sf.FailureReason) {
		u = min(u, sf.LastStatusAt+ttlSole)
	}
	return u
}

// inForce reports whether a verdict still holds: DEAD always, EXHAUSTED
// until its cooldown ends.
func (pp *provPool) inForce(sf *StatusFields, now float64) bool {
	switch sf.LastStatus {
	case StatusDead:
		return true
	case StatusExhausted:
		return pp.until(sf) > now
	}
	return false
}

// cooling reports whether the entry is EXHAUSTED and its cooldown still runs.
func (pp *provPool) cooling(sf *StatusFields, now float64) bool {
	return sf.LastStatus == StatusExhausted && pp.until(sf) > now
}

// available is the one definition of "can be handed out" for a caller that
// asks for model ("" = it does not know the model, so a cooldown for any
// model counts).
func (pp *provPool) available(e *entryState, now float64, model string) bool {
	if e.AccessToken == "" || len(e.Unreadable) > 0 || e.expired(now) {
		return false
	}
	switch e.LastStatus {
	case StatusDead:
		return false
	case StatusExhausted:
		if pp.until(&e.StatusFields) > now {
			return false
		}
	}
	return e.modelFree(now, model) && pp.quotaUntil(e, now, model) == 0
}

// sole reports whether the pool holds at most one entry that is not DEAD.
// It is cached: selection asks it for every candidate.
func (pp *provPool) sole() bool {
	if !pp.soleKnown {
		n := 0
		for _, e := range pp.entries {
			if e.LastStatus != StatusDead {
				n++
			}
		}
		pp.soleVal, pp.soleKnown = n <= 1, true
	}
	return pp.soleVal
}

// statusesChanged forgets what depends on the entries' statuses.
func (pp *provPool) statusesChanged() { pp.soleKnown = false }

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

// setStatus replaces an entry's verdict with one this process observed now.
func (p *Pool) setStatus(pp *provPool, e *entryState, sf StatusFields, now float64) {
	e.StatusFields = sf
	e.verdictAt = now
	if sf.LastStatus == "" {
		e.verdictAt = 0
	}
	pp.statusesChanged()
	p.markUrgent()
}

// recoverEntry ends an entry's cooldown by time and says why. The same
// cooldown read back from the file is over, not new (endedAt), and the
// cleared status is written with the batched changes: every reader of the
// file sees the cooldown end by itself anyway.
func (p *Pool) recoverByTime(pp *provPool, e *entryState, now float64) Change {
	e.endedAt = e.LastStatusAt
	e.StatusFields = StatusFields{}
	e.verdictAt = 0
	pp.statusesChanged()
	p.markBatched()
	return Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
		At: now, Reason: recoverReason("ttl"), Cause: "ttl"}
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
func (pp *provPool) statusChange(e *entryState, now float64, cause string) Change {
	c := Change{Provider: pp.name, ID: e.ID, Label: e.Label, At: now, Cause: cause}
	switch e.LastStatus {
	case StatusDead:
		c.Kind, c.Code, c.Reason = ChangeDead, e.LastErrorCode, e.LastErrorReason
	case StatusExhausted:
		c.Kind, c.Code, c.Reason = ChangeExhausted, e.LastErrorCode, e.LastErrorReason
		c.Until = pp.until(&e.StatusFields)
	default:
		c.Kind, c.Reason = ChangeRecovered, recoverReason(cause)
	}
	if c.Kind != ChangeRecovered && e.verdictAt > 0 {
		c.At = e.verdictAt
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

// epochOf is the pool's one clock reading in epoch seconds.
var epochOf = epoch.Seconds
