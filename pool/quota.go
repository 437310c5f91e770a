package pool

import (
	"time"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/quota"
)

// Quota is observational: what the providers' rate-limit headers said of a
// credential's budgets (package quota). It lives in memory and in
// credpool's own state file, never in auth.json. It belongs to the token
// generation like every verdict (new tokens start with no readings), and a
// reading is applied to every entry holding the same access token.

// quotaUntil is when a quota block of e for model ends, 0 if none.
func (pp *provPool) quotaUntil(e *entryState, now float64, model string) float64 {
	if e.quota == nil {
		return 0
	}
	if u, blocked := e.quota.Blocked(epoch.Time(now), pp.threshold, model); blocked {
		return u
	}
	return 0
}

// room is e's headroom for model, as the headroom strategy ranks it (more
// budget left first, ties to the one whose tightest window resets soonest).
func (e *entryState) room(now float64, model string) quota.Room {
	if e.quota == nil {
		return quota.Room{}
	}
	f, r, known := e.quota.Headroom(epoch.Time(now), model)
	return quota.Room{Fraction: f, ResetAt: r, Known: known}
}

// observe records what a provider's answer said of e's budgets, on e and
// every entry holding its token. The Retry-After of an answer that refused
// one model only (modelScoped) is that model's cooldown, not a block of the
// whole credential. It returns the header names whose values could not be
// trusted (for a debug log line; never a value).
func (p *Pool) observe(pp *provPool, e *entryState, headers map[string]string, now float64, modelScoped bool) []string {
	obs := quota.ParseMap(headers, epoch.Time(now))
	if modelScoped {
		obs = obs.WithoutRetryAfter()
	}
	if len(obs.Windows) > 0 {
		for _, x := range pp.holders(e) {
			if x.quota == nil {
				x.quota = &quota.State{}
			}
			x.quota.Apply(obs)
		}
		p.stateDirty = true
	}
	return obs.Ignored
}

// answered counts an answer on e against the requests in flight on its
// token's holders (quota.State.Answered).
func (pp *provPool) answered(e *entryState, now time.Time) {
	for _, x := range pp.holders(e) {
		if x.quota != nil {
			x.quota.Answered(now)
		}
	}
}

// spend counts a selection of e against the request budgets its token's
// holders know (quota.State.Spend).
func (pp *provPool) spend(e *entryState, now time.Time) {
	for _, x := range pp.holders(e) {
		if x.quota != nil {
			x.quota.Spend(now)
		}
	}
}

// pruneQuota drops readings whose reset has passed.
func (pp *provPool) pruneQuota(now float64) {
	for _, e := range pp.entries {
		if e.quota != nil {
			e.quota.Prune(epoch.Time(now))
		}
	}
}
