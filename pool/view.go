package pool

import (
	"fmt"
	"maps"
	"slices"

	"github.com/credpool/credpool/epoch"
)

// Views returns every pool, sorted by provider.
func (p *Pool) Views() []PoolView {
	_, now := p.now()
	leases := p.leaseCounts(now)
	out := make([]PoolView, 0, len(p.pools))
	for _, name := range p.sortedNames() {
		out = append(out, p.poolView(p.pools[name], now, leases))
	}
	return out
}

// View returns one pool. Errors: ErrUnknownPool.
func (p *Pool) View(provider string) (PoolView, error) {
	pp := p.pools[provider]
	if pp == nil {
		return PoolView{}, fmt.Errorf("pool: view %s: %w", Quote(provider), ErrUnknownPool)
	}
	_, now := p.now()
	return p.poolView(pp, now, p.leaseCounts(now)), nil
}

// poolView lists the entries in file order, the order 1-based targets use.
func (p *Pool) poolView(pp *provPool, now float64, leases map[pkey]int) PoolView {
	v := PoolView{
		Provider:        pp.name,
		Strategy:        p.strategyOf(pp.name),
		Entries:         make([]EntryView, 0, len(pp.entries)),
		NextAvailableAt: pp.nextAvailable(now, query{}),
		Problems:        append(slices.Clone(pp.problems), pp.unreadable...),
	}
	for _, e := range pp.entries {
		ev := p.entryView(pp, e, now, leases)
		if ev.Available {
			v.Available++
		}
		v.Entries = append(v.Entries, ev)
	}
	return v
}

func (p *Pool) entryView(pp *provPool, e *entryState, now float64, leases map[pkey]int) EntryView {
	v := EntryView{
		ID:               e.ID,
		Label:            e.Label,
		AuthType:         e.AuthType,
		Priority:         e.Priority,
		Source:           e.Source,
		TokenHint:        tokenHint(e.AccessToken),
		BaseURL:          e.BaseURL,
		ExpiresAt:        e.ExpiresAt,
		RequestCount:     e.RequestCount,
		Status:           norm(e.LastStatus),
		Available:        pp.available(e, now, ""),
		Leases:           leases[pkey{pp.name, e.ID}],
		LastStatusAt:     e.LastStatusAt,
		LastErrorCode:    e.LastErrorCode,
		LastErrorReason:  p.redactor().String(e.LastErrorReason),
		LastErrorMessage: p.redactor().String(e.LastErrorMessage),
		LastErrorResetAt: e.LastErrorResetAt,
		PruneAt:          p.pruneAt(e),
		FailureReason:    e.FailureReason,
		StatusClearedAt:  e.StatusClearedAt,
		Unreadable:       slices.Clone(e.Unreadable),
		Refreshing:       e.refreshing,
		RefreshError:     p.redactor().String(e.refreshErr),
		LastRefresh:      p.redactor().String(e.LastRefresh),
		External:         e.external,
		LoginBroken:      p.redactor().String(e.loginBroken),
	}
	if v.ExpiresAt == 0 {
		v.ExpiresAt = e.exp // from the token's JWT
	}
	if e.modelMax > now {
		v.ModelCooldowns = maps.Clone(e.ModelCooldowns)
		maps.DeleteFunc(v.ModelCooldowns, func(_ string, u float64) bool { return u <= now })
	}
	if e.quota != nil {
		v.Quota = e.quota.Readings(epoch.Time(now), pp.threshold)
		v.QuotaUntil = pp.quotaUntil(e, now, "")
	}
	if v.Status == StatusExhausted {
		if pp.cooling(&e.StatusFields, now) {
			v.Until = pp.until(&e.StatusFields)
		} else {
			v.Status = StatusOK // the cooldown ended; the next tick or select writes it
		}
	}
	return v
}

// Verdict is an entry's verdict now, in the form a report answers it: for
// model, the model cooldown if one runs; else the credential's status.
// Errors: ErrUnknownPool, ErrNoTarget.
func (p *Pool) Verdict(provider, id, model string) (Marked, error) {
	pp := p.pools[provider]
	if pp == nil {
		return Marked{}, fmt.Errorf("pool: verdict %s: %w", Quote(provider), ErrUnknownPool)
	}
	e := pp.byID[id]
	if e == nil {
		return Marked{}, fmt.Errorf("pool: verdict %s: %w", Quote(id), ErrNoTarget)
	}
	_, now := p.now()
	if model != "" {
		if u := e.modelUntil(now, model); u > 0 {
			return Marked{ID: id, Status: StatusOK, Until: u, Model: model}, nil
		}
	}
	switch {
	case e.LastStatus == StatusDead:
		return Marked{ID: id, Status: StatusDead}, nil
	case pp.cooling(&e.StatusFields, now):
		return Marked{ID: id, Status: StatusExhausted, Until: pp.until(&e.StatusFields)}, nil
	}
	return Marked{ID: id, Status: StatusOK}, nil
}
