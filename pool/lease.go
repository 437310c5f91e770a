package pool

import (
	"fmt"
)

// acquire gives e a new lease.
func (p *Pool) acquire(pp *provPool, e *entryState, now float64) *Lease {
	var id string
	for {
		id = fmt.Sprintf("%016x", p.cfg.Rand.Uint64())
		if _, taken := p.leases[id]; !taken {
			break
		}
	}
	l := &Lease{ID: id, Provider: pp.name, EntryID: e.ID, ExpiresAt: now + p.cfg.LeaseTTL.Seconds(), gen: fingerprint(e.tokens())}
	p.leases[id] = l
	e.leases++
	cp := *l
	return &cp
}

// endLease forgets a lease and uncounts it.
func (p *Pool) endLease(l *Lease) {
	delete(p.leases, l.ID)
	if pp := p.pools[l.Provider]; pp != nil {
		if e := pp.byID[l.EntryID]; e != nil && e.leases > 0 {
			e.leases--
		}
	}
}

// sweepLeases ends the leases that expired, so they stop counting.
func (p *Pool) sweepLeases(now float64) {
	for _, l := range p.leases {
		if l.ExpiresAt <= now {
			p.endLease(l)
		}
	}
}

// liveLease returns the lease with id if it has not expired.
func (p *Pool) liveLease(id string, now float64) *Lease {
	l := p.leases[id]
	if l == nil {
		return nil
	}
	if l.ExpiresAt <= now {
		p.endLease(l)
		return nil
	}
	return l
}

// Release ends a lease. Errors: ErrUnknownLease.
func (p *Pool) Release(leaseID string) error {
	_, now := p.now()
	l := p.liveLease(leaseID, now)
	if l == nil {
		return fmt.Errorf("pool: release: %w", ErrUnknownLease)
	}
	p.endLease(l)
	return nil
}

// leaseCounts counts the live leases per entry without changing anything
// (views may be taken while expired leases still wait for a sweep).
func (p *Pool) leaseCounts(now float64) map[pkey]int {
	if len(p.leases) == 0 {
		return nil
	}
	m := make(map[pkey]int, len(p.leases))
	for _, l := range p.leases {
		if l.ExpiresAt > now {
			m[pkey{l.Provider, l.EntryID}]++
		}
	}
	return m
}
