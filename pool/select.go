package pool

import (
	"fmt"
)

func validStrategy(s Strategy) bool {
	switch s {
	case FillFirst, RoundRobin, LeastUsed, Random:
		return true
	}
	return false
}

// strategyOf is the configured strategy of a provider.
func (p *Pool) strategyOf(provider string) Strategy {
	if s, ok := p.cfg.Strategies[provider]; ok && s != "" {
		return s
	}
	return p.cfg.DefaultStrategy
}

// Select picks a credential of provider by the strategy and counts it.
// Errors: ErrUnknownPool, ErrUnknownStrategy, *NoneAvailableError.
func (p *Pool) Select(provider string, opt SelectOptions) (Selection, error) {
	pp := p.pools[provider]
	if pp == nil {
		return Selection{}, fmt.Errorf("pool: select %q: %w", provider, ErrUnknownPool)
	}
	strat := opt.Strategy
	if strat == "" {
		strat = p.strategyOf(provider)
	}
	if !validStrategy(strat) {
		return Selection{}, fmt.Errorf("pool: select %q: %w %q", provider, ErrUnknownStrategy, strat)
	}
	_, now := p.now()
	if opt.Lease {
		p.sweepLeases(now)
	}
	var sel Selection
	e := p.pick(pp, strat, opt.Lease, now, &sel.Changes)
	if e == nil {
		return sel, &NoneAvailableError{Provider: provider, NextAvailableAt: nextAvailable(pp, now)}
	}
	p.take(pp, e, strat)
	sel.Credential = e.credential(provider)
	if opt.Lease {
		sel.Lease = p.acquire(pp, e, now)
	}
	return sel, nil
}

// pick chooses an available entry in strategy order. With lease, entries
// under the lease cap come first; when all are at the cap, the least-leased
// wins, ties again by strategy order. Ended cooldowns met on the way are
// recovered (and reported in changes).
func (p *Pool) pick(pp *provPool, strat Strategy, lease bool, now float64, changes *[]Change) *entryState {
	if strat == Random && !lease {
		return p.pickRandom(pp, now, changes)
	}
	ordered := strat == FillFirst || strat == RoundRobin
	var best *entryState
	bestTier, ties := 0, 0
	for _, e := range pp.byPrio {
		if !p.usable(pp, e, now, changes) {
			continue
		}
		tier := 0
		if lease && e.leases >= p.cfg.MaxLeases {
			tier = e.leases
		}
		if ordered && tier == 0 {
			return e
		}
		switch {
		case best == nil || tier < bestTier:
			best, bestTier, ties = e, tier, 1
		case tier > bestTier:
		case strat == LeastUsed:
			if e.RequestCount < best.RequestCount {
				best = e
			}
		case strat == Random:
			ties++
			if p.cfg.Rand.IntN(ties) == 0 {
				best = e
			}
		}
	}
	return best
}

// pickRandom draws uniformly among the usable entries: one pass to count
// them, one draw, one pass to find the drawn one.
func (p *Pool) pickRandom(pp *provPool, now float64, changes *[]Change) *entryState {
	n := 0
	for _, e := range pp.byPrio {
		if p.usable(pp, e, now, changes) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := p.cfg.Rand.IntN(n)
	for _, e := range pp.byPrio {
		if e.available(now) {
			if k == 0 {
				return e
			}
			k--
		}
	}
	return nil
}

// usable reports whether e can be handed out now, and turns an ended
// cooldown into OK on the way.
func (p *Pool) usable(pp *provPool, e *entryState, now float64, changes *[]Change) bool {
	if !e.available(now) {
		return false
	}
	if e.LastStatus == StatusExhausted {
		*changes = append(*changes, p.recoverEntry(pp, e, now, "ttl"))
	}
	return true
}

// take counts a selection and, for round_robin, moves the entry to the end.
func (p *Pool) take(pp *provPool, e *entryState, strat Strategy) {
	e.RequestCount++
	p.queueCount(pp.name, e.ID)
	if strat == RoundRobin {
		p.rotate(pp, e)
	}
}

// rotate moves e to the end of the selection order and renumbers the
// priorities 0..n-1, queueing the ones that changed.
func (p *Pool) rotate(pp *provPool, e *entryState) {
	for i, x := range pp.byPrio {
		if x == e {
			copy(pp.byPrio[i:], pp.byPrio[i+1:])
			pp.byPrio[len(pp.byPrio)-1] = e
			break
		}
	}
	for i, x := range pp.byPrio {
		x.Priority = i
	}
	pp.prioDirty = true
}

// nextAvailable is the earliest future cooldown end of an entry that could be
// handed out then, 0 if none (only DEAD or tokenless entries remain).
func nextAvailable(pp *provPool, now float64) float64 {
	next := 0.0
	for _, e := range pp.entries {
		if e.AccessToken == "" || !cooling(&e.StatusFields, now) {
			continue
		}
		if u := until(&e.StatusFields); next == 0 || u < next {
			next = u
		}
	}
	return next
}

// NextWake is the earliest future moment at which an entry becomes available
// by time (a cooldown end) or a lease expires, 0 if none. The daemon sleeps
// until then to wake waiting selects without polling.
func (p *Pool) NextWake() float64 {
	_, now := p.now()
	next := 0.0
	for _, pp := range p.pools {
		if u := nextAvailable(pp, now); u > 0 && (next == 0 || u < next) {
			next = u
		}
	}
	for _, l := range p.leases {
		if l.ExpiresAt > now && (next == 0 || l.ExpiresAt < next) {
			next = l.ExpiresAt
		}
	}
	return next
}
