package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/credpool/credpool/epoch"
)

// memBackend is the pool as a test needs it: fill-first over a fixed list
// of keys per pool, a cooldown for every failure report, death for a
// terminal 401, and a record of every Select and Report.
type memBackend struct {
	now func() time.Time

	mu      sync.Mutex
	pools   map[string][]*memKey
	selects []memSelect
	reports []memReport
}

type memKey struct {
	cred      Credential
	downUntil float64
	dead      bool
}

type memSelect struct {
	Pool, Model string
	Exclude     []string
}

type memReport struct {
	Pool string
	Report
}

// memCooldown is how long a reported failure takes a key out.
const memCooldown = 60

func newMemBackend(now func() time.Time, pools map[string][]Credential) *memBackend {
	b := &memBackend{now: now, pools: map[string][]*memKey{}}
	for p, creds := range pools {
		for _, c := range creds {
			b.pools[p] = append(b.pools[p], &memKey{cred: c})
		}
	}
	return b
}

func (b *memBackend) epoch() float64 { return epoch.Seconds(b.now()) }

func (b *memBackend) Select(_ context.Context, pool, model string, exclude []string) (Credential, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.selects = append(b.selects, memSelect{Pool: pool, Model: model, Exclude: slices.Clone(exclude)})
	keys, ok := b.pools[pool]
	if !ok {
		return Credential{}, ErrUnknownPool
	}
	now := b.epoch()
	var retryAt float64
	for _, k := range keys {
		switch {
		case k.dead:
		case k.downUntil > now:
			if retryAt == 0 || k.downUntil < retryAt {
				retryAt = k.downUntil
			}
		case slices.Contains(exclude, k.cred.ID):
		default:
			return k.cred, nil
		}
	}
	return Credential{}, &NoneAvailableError{Pool: pool, RetryAt: retryAt}
}

func (b *memBackend) Report(_ context.Context, pool string, r Report) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reports = append(b.reports, memReport{Pool: pool, Report: r})
	for _, k := range b.pools[pool] {
		if k.cred.ID != r.CredentialID {
			continue
		}
		switch {
		case r.StatusCode < 400:
		case r.StatusCode == 401 && r.Reason == "token_invalidated":
			k.dead = true
		default:
			k.downUntil = b.epoch() + memCooldown
		}
	}
}

func (b *memBackend) Reports() []memReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.reports)
}

func (b *memBackend) Selects() []memSelect {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.selects)
}

// markDown takes every key of pool out until epoch second until (0: dead).
func (b *memBackend) markDown(pool string, until float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range b.pools[pool] {
		k.dead = until == 0
		k.downUntil = until
	}
}
