package pool

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Report marks the entry the report identifies (and every other entry holding
// the same token) and selects the next credential. Errors: ErrUnknownPool.
func (p *Pool) Report(provider string, r Report) (ReportResult, error) {
	pp := p.pools[provider]
	if pp == nil {
		return ReportResult{}, fmt.Errorf("pool: report %q: %w", provider, ErrUnknownPool)
	}
	nowT, now := p.now()
	var res ReportResult
	target := p.identify(pp, r, now)
	switch {
	case target == nil:
		res.Unmatched = true
	case r.StatusCode >= 400:
		res.Marked = p.mark(pp, target, r, nowT, now, &res.Changes)
	}
	strat := p.strategyOf(provider)
	if !validStrategy(strat) {
		strat = FillFirst
	}
	if e := p.pick(pp, strat, false, now, &res.Changes); e != nil {
		p.take(pp, e, strat)
		c := e.credential(provider)
		res.Next = &c
	}
	return res, nil
}

// identify finds the reported entry: by credential id, else by lease, else by
// the token the agent used. A lease named by the report ends with it.
func (p *Pool) identify(pp *provPool, r Report, now float64) *entryState {
	var e *entryState
	if r.CredentialID != "" {
		e = pp.byID[r.CredentialID]
	}
	if r.LeaseID != "" {
		if l := p.liveLease(r.LeaseID, now); l != nil && l.Provider == pp.name {
			if e == nil {
				e = pp.byID[l.EntryID]
			}
			p.endLease(l)
		}
	}
	if e == nil && r.APIKeyHint != "" {
		if h := pp.byToken[r.APIKeyHint]; len(h) > 0 {
			return h[0]
		}
	}
	return e
}

// mark applies the report to target and to every entry sharing its token.
func (p *Pool) mark(pp *provPool, target *entryState, r Report, nowT time.Time, now float64, changes *[]Change) *Marked {
	// Providers and proxies quote the key they were given ("Incorrect API
	// key provided: sk-..."); what we store, log and show must not.
	secrets := []string{target.AccessToken, target.RefreshToken, r.APIKeyHint}
	sf := StatusFields{
		LastStatusAt:     now,
		LastErrorCode:    r.StatusCode,
		LastErrorReason:  redact(strings.TrimSpace(r.Reason), secrets),
		LastErrorMessage: truncateRunes(redact(r.Message, secrets), maxMessageRunes),
	}
	dead := isTerminal(r.StatusCode, r.Reason)
	deadline := 0.0
	if dead {
		sf.LastStatus = StatusDead
	} else {
		sf.LastStatus = StatusExhausted
		deadline = p.deadline(pp, r, nowT, now)
	}
	var marked Marked
	for _, e := range pp.holders(target) {
		m := Marked{ID: e.ID, Status: StatusDead}
		switch {
		case dead:
			p.setStatus(pp, e, sf, now)
			*changes = append(*changes, Change{Kind: ChangeDead, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Code: sf.LastErrorCode, Reason: sf.LastErrorReason, Cause: "report"})
		case e.LastStatus == StatusDead:
			// Only fresh tokens end DEAD; a later soft error says nothing new.
		default:
			u := deadline
			if cooling(&e.StatusFields, now) {
				u = math.Max(u, until(&e.StatusFields)) // a re-report never shortens
			}
			esf := sf
			// Write the deadline down whenever the fields alone would not
			// give it back, so that Hermes and a restarted daemon agree.
			if math.Abs(u-(now+ttlFor(r.StatusCode))) > 1e-6 {
				esf.LastErrorResetAt = u
			}
			p.setStatus(pp, e, esf, now)
			*changes = append(*changes, Change{Kind: ChangeExhausted, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Code: sf.LastErrorCode, Reason: sf.LastErrorReason, Until: u, Cause: "report"})
			m = Marked{ID: e.ID, Status: StatusExhausted, Until: u}
		}
		if e == target {
			marked = m
		}
	}
	return &marked
}

// deadline is the cooldown end a soft error earns: the provider's reset time
// when it gave one (it wins even when days away), else the TTL of the code,
// at most 60 s for a sole credential unless the error is about billing.
func (p *Pool) deadline(pp *provPool, r Report, nowT time.Time, now float64) float64 {
	if t, ok := providerReset(r, nowT); ok {
		return epoch(t)
	}
	ttl := ttlFor(r.StatusCode)
	billing := r.StatusCode == 402 || strings.EqualFold(strings.TrimSpace(r.FailureReason), "billing")
	if !billing && sole(pp) {
		ttl = math.Min(ttl, ttlSole)
	}
	return now + ttl
}

// sole reports whether the pool holds at most one entry that is not DEAD.
func sole(pp *provPool) bool {
	n := 0
	for _, e := range pp.entries {
		if e.LastStatus != StatusDead {
			if n++; n > 1 {
				return false
			}
		}
	}
	return true
}

// providerReset is the reset time the provider gave: reset_at, else
// retry_after, else a delay in the message. Unparsable or past values are
// ignored (the TTL applies) rather than failing the report.
func providerReset(r Report, now time.Time) (time.Time, bool) {
	if r.ResetAt != "" {
		if t, err := ParseResetAt(r.ResetAt, now); err == nil && t.After(now) {
			return t, true
		}
	}
	if r.RetryAfter != "" {
		if t, err := ParseRetryAfter(r.RetryAfter, now); err == nil && t.After(now) {
			return t, true
		}
	}
	if r.Message != "" {
		if d, ok := DelayFromMessage(r.Message); ok {
			return now.Add(d), true
		}
	}
	return time.Time{}, false
}

// redact replaces every secret found in s by "…" and its last 4 characters,
// the same hint status shows. Secrets shorter than 8 characters are left
// alone: they would match ordinary words.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 8 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "…"+sec[len(sec)-4:])
		}
	}
	return s
}
