package pool

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/redact"
)

// Report marks the entry the report identifies (and every other entry holding
// the same token) and, when the caller needs another credential, selects the
// next one (see wantsNext). Errors: ErrUnknownPool.
func (p *Pool) Report(provider string, r Report) (ReportResult, error) {
	pp := p.pools[provider]
	if pp == nil {
		return ReportResult{}, fmt.Errorf("pool: report %s: %w", Quote(provider), ErrUnknownPool)
	}
	nowT, now := p.now()
	var res ReportResult
	if r.RetryAfter == "" {
		r.RetryAfter = retryAfterHeader(r.Headers)
	}
	target, stale := p.identify(pp, r, now)
	scoped := r.StatusCode >= 400 && modelScoped(provider, r)
	if target != nil {
		// The answer of one request handed out: the ones still in flight
		// are counted against the figure it brings.
		pp.answered(target, nowT)
	}
	if target != nil && len(r.Headers) > 0 {
		res.Ignored = p.observe(pp, target, r.Headers, now, scoped)
	}
	switch {
	case target == nil:
		res.Unmatched = true
	case stale && r.StatusCode >= 400:
		// An agent that used the old pair tells us what we know: the
		// new pair is not benched for it (100 agents' 401s after one
		// refresh must not start 100 more).
		res.Stale = true
	case scoped:
		res.Marked = p.markModel(pp, target, r, nowT, now, &res.Changes)
	case r.StatusCode >= 400:
		res.Marked = p.mark(pp, target, r, nowT, now, &res.Changes)
		if r.StatusCode == 401 && !isTerminal(r.StatusCode, r.Reason) && target.RefreshToken != "" {
			// The access token may be stale: refresh it now, whatever
			// its expiry says.
			target.refreshWanted, res.RefreshWanted = true, true
		}
	}
	if !p.wantsNext(pp, target, r, now) {
		res.Changes = p.clean(res.Changes)
		return res, nil
	}
	strat := p.strategyOf(provider)
	if !ValidStrategy(strat) {
		strat = FillFirst
	}
	if e := p.pick(pp, strat, query{model: r.Model}, now, &res.Changes); e != nil {
		p.take(pp, e, strat)
		c := e.credential(provider)
		res.Next = &c
	} else if r.StatusCode == 429 {
		// Nothing to rotate to: a short wait is worth waiting out on the
		// same credential; a long one is not (the caller is not told to
		// sleep through it, and the 503 of its next select says when).
		if d := providerDeadline(r, nowT, now) - now; d > 0 && d <= p.longWait() {
			res.RetryAfter = d
		}
	}
	res.Changes = p.clean(res.Changes)
	return res, nil
}

// wantsNext reports whether a report's answer hands out a next credential,
// which counts as a selection (request_count, round_robin's order). A
// failure does: the caller must try again, whatever the report marked. A
// success does only when the credential it names can no longer be handed
// out (a 200 whose headers say the budget is spent, an entry benched
// meanwhile); otherwise the caller keeps the credential it holds, and
// agents that report every success (to pass rate-limit headers) would
// count each call twice and be handed tokens nobody asked for.
func (p *Pool) wantsNext(pp *provPool, target *entryState, r Report, now float64) bool {
	if r.NoNext {
		return false
	}
	if r.StatusCode >= 400 {
		return true
	}
	return target != nil && !pp.available(target, now, r.Model)
}

func (p *Pool) longWait() float64 {
	if p.cfg.LongWait > 0 {
		return p.cfg.LongWait.Seconds()
	}
	return 60
}

// retryAfterHeader is the Retry-After a report's headers carry (retry-after,
// or retry-after-ms as seconds), "" if none.
func retryAfterHeader(h map[string]string) string {
	if v := h["retry-after"]; v != "" {
		return v
	}
	if v := h["retry-after-ms"]; v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 {
			return strconv.FormatFloat(ms/1000, 'f', -1, 64)
		}
	}
	return ""
}

// identify finds the reported entry: by credential id, else by lease, else by
// the token the agent used. A lease named by the report ends with it. stale
// says the report is about a pair the entry no longer holds: its lease was
// for another pair, or the token it names is one the entry replaced.
func (p *Pool) identify(pp *provPool, r Report, now float64) (e *entryState, stale bool) {
	if r.CredentialID != "" {
		e = pp.byID[r.CredentialID]
	}
	if r.LeaseID != "" {
		if l := p.liveLease(r.LeaseID, now); l != nil && l.Provider == pp.name {
			if e == nil {
				e = pp.byID[l.EntryID]
			}
			stale = e != nil && e.ID == l.EntryID && l.gen != fingerprint(e.tokens())
			p.endLease(l)
		}
	}
	if e == nil && r.APIKeyHint != "" {
		if h := pp.byToken[r.APIKeyHint]; len(h) > 0 {
			return h[0], false
		}
	}
	if e != nil && r.APIKeyHint != "" && e.retiredToken(r.APIKeyHint) {
		stale = true
	}
	return e, stale
}

// modelScoped reports whether an error answer benches the credential for
// the reported model only: a model entitlement failure (any provider), or
// Anthropic's per-model 429 that is not about billing. Everything else is
// credential-wide.
func modelScoped(provider string, r Report) bool {
	if strings.TrimSpace(r.Model) == "" {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(r.FailureReason), FailureModelEntitlement) {
		return true
	}
	return provider == "anthropic" && r.StatusCode == 429 && !isBilling(r.StatusCode, r.FailureReason)
}

// statusFields are the fields a report writes, its three texts (reason,
// message, failure reason) kept the one way: redacted, then cut (a cut must
// not leave a fragment behind): providers and proxies quote the key they
// were given ("Incorrect API key provided: sk-..."), and what is stored,
// logged and shown must not.
func (p *Pool) statusFields(r Report, now float64) StatusFields {
	clean := p.redactor().String
	if r.APIKeyHint != "" && p.holdsToken(r.APIKeyHint) == nil {
		// The agent's token is no entry's: redact it too (a token shape
		// the pool's redactor replaced already stays replaced).
		hint := redact.New(r.APIKeyHint)
		clean = func(s string) string { return hint.String(p.redactor().String(s)) }
	}
	keep := func(s string) string { return truncateRunes(clean(s), maxMessageRunes) }
	return StatusFields{
		LastStatusAt:     now,
		LastErrorCode:    r.StatusCode,
		LastErrorReason:  keep(strings.TrimSpace(r.Reason)),
		LastErrorMessage: keep(r.Message),
		// Lower-cased after the redaction, which matches tokens as they are.
		FailureReason: strings.ToLower(keep(strings.TrimSpace(r.FailureReason))),
	}
}

// mark applies the report to target and to every entry sharing its token.
func (p *Pool) mark(pp *provPool, target *entryState, r Report, nowT time.Time, now float64, changes *[]Change) *Marked {
	sf := p.statusFields(r, now)
	dead := isTerminal(r.StatusCode, r.Reason)
	deadline := 0.0
	if dead {
		sf.LastStatus = StatusDead
	} else {
		sf.LastStatus = StatusExhausted
		deadline = providerDeadline(r, nowT, now)
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
			esf := sf
			u := deadline
			if u == 0 {
				u = now + ttlFor(r.StatusCode)
			}
			if pp.cooling(&e.StatusFields, now) {
				u = math.Max(u, pp.until(&e.StatusFields)) // a re-report never shortens
			}
			// Write the deadline down whenever the fields alone would not
			// give it back, so that Hermes and a restarted daemon agree.
			if math.Abs(u-(now+ttlFor(r.StatusCode))) > 1e-6 {
				esf.LastErrorResetAt = u
			}
			p.setStatus(pp, e, esf, now)
			u = pp.until(&e.StatusFields)
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

// markModel benches target, and every entry sharing its token, for the
// reported model only; their status stays OK.
func (p *Pool) markModel(pp *provPool, target *entryState, r Report, nowT time.Time, now float64, changes *[]Change) *Marked {
	model := strings.TrimSpace(r.Model)
	u := providerDeadline(r, nowT, now)
	switch {
	case u > 0:
	case strings.EqualFold(strings.TrimSpace(r.FailureReason), FailureModelEntitlement):
		u = now + ttlEntitlement
	case pp.sole():
		u = now + ttlSole
	default:
		u = now + ttlDefault
	}
	var marked Marked
	for _, e := range pp.holders(target) {
		if e.LastStatus == StatusDead {
			continue
		}
		e.setModelCooldown(model, u, now)
		p.markUrgent()
		eu := e.ModelCooldowns[model]
		*changes = append(*changes, Change{Kind: ChangeModelCooldown, Provider: pp.name, ID: e.ID, Label: e.Label,
			At: now, Code: r.StatusCode, Reason: p.statusFields(r, now).LastErrorReason, Until: eu, Model: model, Cause: "report"})
		if e == target {
			marked = Marked{ID: e.ID, Status: StatusOK, Until: eu, Model: model}
		}
	}
	if marked.ID == "" {
		marked = Marked{ID: target.ID, Status: StatusDead}
	}
	return &marked
}

// providerDeadline is the reset time the provider gave: reset_at, else
// retry_after, else a delay in the message; 0 when none (the TTL applies).
// Unparsable or past values are ignored rather than failing the report.
func providerDeadline(r Report, nowT time.Time, now float64) float64 {
	if r.ResetAt != "" {
		if t, err := epoch.Parse(r.ResetAt); err == nil && t > now {
			return t
		}
	}
	if r.RetryAfter != "" {
		if t, err := epoch.ParseRetryAfter(r.RetryAfter, nowT); err == nil && t > now {
			return t
		}
	}
	if r.Message != "" {
		if d, ok := DelayFromMessage(r.Message); ok {
			return now + d.Seconds()
		}
	}
	return 0
}
