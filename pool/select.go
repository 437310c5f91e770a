package pool

import (
	"fmt"
	"slices"

	"github.com/credpool/credpool/quota"
)

// Strategies lists every strategy, in the order help texts show them: the
// one place their names are decided.
var Strategies = []Strategy{FillFirst, RoundRobin, LeastUsed, Random, Headroom}

// ValidStrategy reports whether s names a strategy.
func ValidStrategy(s Strategy) bool { return slices.Contains(Strategies, s) }

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
		return Selection{}, fmt.Errorf("pool: select %s: %w", Quote(provider), ErrUnknownPool)
	}
	strat := opt.Strategy
	if strat == "" {
		strat = p.strategyOf(provider)
	}
	if !ValidStrategy(strat) {
		return Selection{}, fmt.Errorf("pool: select %s: %w %s", Quote(provider), ErrUnknownStrategy, Quote(string(strat)))
	}
	nowT, now := p.now()
	if opt.Lease {
		p.sweepLeases(now)
	}
	var sel Selection
	q := query{model: opt.Model, exclude: opt.Exclude, lease: opt.Lease}
	e := p.pick(pp, strat, q, now, &sel.Changes)
	if e == nil {
		none := &NoneAvailableError{Provider: provider, NextAvailableAt: pp.nextAvailable(now, q), Refreshing: p.Refreshing(provider)}
		none.Excluded = none.NextAvailableAt == 0 && pp.excludesFree(now, q)
		return sel, none
	}
	p.take(pp, e, strat)
	// The call is made now: count it against the budget the last answer
	// announced. (A report's next is only a suggestion, most agents
	// select again, so it is not counted.)
	pp.spend(e, nowT)
	sel.Credential = e.credential(provider)
	if opt.Lease {
		sel.Lease = p.acquire(pp, e, now)
	}
	sel.Changes = p.clean(sel.Changes)
	return sel, nil
}

// query is what a selection asks for beyond its strategy.
type query struct {
	model   string
	exclude []string
	lease   bool
}

// pick chooses an available entry in strategy order. With lease, entries
// under the lease cap come first; when all are at the cap, the least-leased
// wins, ties again by strategy order. Ended cooldowns met on the way are
// recovered (and reported in changes).
func (p *Pool) pick(pp *provPool, strat Strategy, q query, now float64, changes *[]Change) *entryState {
	if strat == Random && !q.lease {
		return p.pickRandom(pp, q, now, changes)
	}
	ordered := strat == FillFirst || strat == RoundRobin
	var best *entryState
	bestTier, ties := 0, 0
	var bestRoom quota.Room // best's, for headroom; reckoned once per best
	roomOf := func(e *entryState) quota.Room {
		if strat != Headroom {
			return quota.Room{}
		}
		return e.room(now, q.model)
	}
	for _, e := range pp.byPrio {
		if !p.usable(pp, e, q, now, changes) {
			continue
		}
		tier := 0
		if q.lease && e.leases >= p.cfg.MaxLeases {
			tier = e.leases
		}
		if ordered && tier == 0 {
			return e
		}
		switch {
		case best == nil || tier < bestTier:
			best, bestTier, ties, bestRoom = e, tier, 1, roomOf(e)
		case tier > bestTier:
		case strat == LeastUsed:
			if e.RequestCount < best.RequestCount {
				best = e
			}
		case strat == Headroom:
			if r := roomOf(e); quota.Better(r, bestRoom) {
				best, bestRoom = e, r
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
func (p *Pool) pickRandom(pp *provPool, q query, now float64, changes *[]Change) *entryState {
	n := 0
	for _, e := range pp.byPrio {
		if p.usable(pp, e, q, now, changes) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := p.cfg.Rand.IntN(n)
	for _, e := range pp.byPrio {
		if pp.available(e, now, q.model) && !q.excludes(e) {
			if k == 0 {
				return e
			}
			k--
		}
	}
	return nil
}

func (q query) excludes(e *entryState) bool {
	return len(q.exclude) > 0 && slices.Contains(q.exclude, e.ID)
}

// usable reports whether e can be handed out now for q, and turns an ended
// cooldown into OK on the way.
func (p *Pool) usable(pp *provPool, e *entryState, q query, now float64, changes *[]Change) bool {
	if !pp.available(e, now, q.model) || q.excludes(e) {
		return false
	}
	if e.LastStatus == StatusExhausted {
		*changes = append(*changes, p.recoverByTime(pp, e, now))
	}
	return true
}

// take counts a selection and, for round_robin, moves the entry to the end.
func (p *Pool) take(pp *provPool, e *entryState, strat Strategy) {
	e.RequestCount++
	p.markBatched()
	if strat == RoundRobin {
		p.rotate(pp, e)
	}
}

// rotate moves e to the end of the selection order and renumbers the
// priorities 0..n-1; the merge writes the ones that changed.
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
}

// freeAt is when e can be handed out for q by time alone: now if it can
// already, 0 if never by itself (DEAD, no token, unreadable).
func (pp *provPool) freeAt(e *entryState, now float64, model string) float64 {
	if e.AccessToken == "" || len(e.Unreadable) > 0 || e.LastStatus == StatusDead || e.expired(now) {
		return 0
	}
	t := now
	if pp.cooling(&e.StatusFields, now) {
		t = max(t, pp.until(&e.StatusFields))
	}
	if u := e.modelUntil(now, model); u > 0 {
		t = max(t, u)
	}
	if u := pp.quotaUntil(e, now, model); u > 0 {
		t = max(t, u)
	}
	return t
}

// nextAvailable is the earliest future moment an entry that is not free now
// becomes free for q, 0 if none will by itself (only DEAD, tokenless,
// expired or unreadable entries remain, or q excludes the rest).
func (pp *provPool) nextAvailable(now float64, q query) float64 {
	next := 0.0
	for _, e := range pp.entries {
		if q.excludes(e) {
			continue
		}
		if t := pp.freeAt(e, now, q.model); t > now && (next == 0 || t < next) {
			next = t
		}
	}
	return next
}

// excludesFree reports whether an entry that q excludes is or will become
// free by itself: then the exclusion, not the state of the pool, is why q
// finds nothing that will come back.
func (pp *provPool) excludesFree(now float64, q query) bool {
	for _, e := range pp.entries {
		if q.excludes(e) && pp.freeAt(e, now, q.model) > 0 {
			return true
		}
	}
	return false
}

// NextWake is the earliest future moment at which an entry becomes
// available by time (a cooldown end, for the credential or for any model)
// or a lease expires, 0 if none. The daemon sleeps until then to wake
// waiting selects without polling.
func (p *Pool) NextWake() float64 {
	_, now := p.now()
	next := 0.0
	soon := func(t float64) {
		if t > now && (next == 0 || t < next) {
			next = t
		}
	}
	for _, pp := range p.pools {
		for _, e := range pp.entries {
			if e.AccessToken == "" || e.LastStatus == StatusDead {
				continue
			}
			if pp.cooling(&e.StatusFields, now) {
				soon(pp.until(&e.StatusFields))
			}
			if e.modelMax > now {
				for _, u := range e.ModelCooldowns {
					soon(u)
				}
			}
			soon(pp.quotaUntil(e, now, ""))
		}
	}
	for _, l := range p.leases {
		soon(l.ExpiresAt)
	}
	return next
}
