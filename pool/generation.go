package pool

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/credpool/credpool/quota"
)

// A generation is one token pair (access + refresh) of an entry, known by a
// fingerprint: verdicts belong to the generation they were observed on, and
// a write that brings back a replaced generation is stale. The fingerprint
// never leaves the daemon except into credpool's own state file.
type generation [16]byte

// maxHistory bounds the replaced generations remembered per entry: enough
// for a stale writer from several refreshes ago, small for a large pool.
const maxHistory = 8

func fingerprint(t Tokens) generation {
	h := sha256.New()
	h.Write([]byte(t.AccessToken))
	h.Write([]byte{0})
	h.Write([]byte(t.RefreshToken))
	var g generation
	copy(g[:], h.Sum(nil))
	return g
}

func (g generation) String() string { return hex.EncodeToString(g[:]) }

func parseGeneration(s string) (generation, bool) {
	var g generation
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(g) {
		return g, false
	}
	copy(g[:], b)
	return g, true
}

// replaced reports whether t is a pair e has since replaced.
func (e *entryState) replaced(t Tokens) bool {
	if len(e.history) == 0 {
		return false
	}
	return slices.Contains(e.history, fingerprint(t))
}

// retire records e's current pair as replaced, before e takes a new one.
func (p *Pool) retire(e *entryState) {
	if e.AccessToken == "" && e.RefreshToken == "" {
		return
	}
	e.history = pushGeneration(e.history, fingerprint(e.tokens()))
	e.retiredAccess = pushGeneration(e.retiredAccess, fingerprint(Tokens{AccessToken: e.AccessToken}))
	p.stateDirty = true
}

// takePair gives e a new pair, expiring at expiresAt (0: as its JWT says).
// The old pair joins e's history, and what was observed on it alone is
// forgotten: quota readings, a refresh asked for or failed, a cooldown this
// process ended or a writer carried over. Ending verdicts is the caller's:
// each kind of change has its rule.
func (p *Pool) takePair(e *entryState, t Tokens, expiresAt float64) {
	p.retire(e)
	e.AccessToken, e.RefreshToken, e.ExpiresAt = t.AccessToken, t.RefreshToken, expiresAt
	e.tokensChanged()
	e.quota, e.refreshErr, e.refreshWanted = nil, "", false
	e.endedAt, e.carriedAt = 0, 0
}

// pushGeneration puts g first in list, once, keeping at most maxHistory.
func pushGeneration(list []generation, g generation) []generation {
	list = slices.DeleteFunc(list, func(x generation) bool { return x == g })
	list = slices.Insert(list, 0, g)
	if len(list) > maxHistory {
		list = list[:maxHistory]
	}
	return list
}

// retiredToken reports whether token is the access token of a pair e
// replaced.
func (e *entryState) retiredToken(token string) bool {
	return token != e.AccessToken && len(e.retiredAccess) > 0 &&
		slices.Contains(e.retiredAccess, fingerprint(Tokens{AccessToken: token}))
}

// tombstone is an entry this process removed: its generation, and when.
type tombstone struct {
	gen generation
	at  float64
}

// bury remembers e's removal.
func (p *Pool) bury(pp *provPool, e *entryState, now float64) {
	p.tombstones[pkey{pp.name, e.ID}] = tombstone{gen: fingerprint(e.tokens()), at: now}
	p.stateDirty = true
}

// buried reports whether the disk row d is an entry this process removed,
// brought back with the same id and tokens by a stale writer. A new id with
// the same tokens is a deliberate re-add and is not.
func (p *Pool) buried(provider string, d *Entry) bool {
	ts, ok := p.tombstones[pkey{provider, d.ID}]
	return ok && ts.gen == fingerprint(tokensOf(d))
}

// tombstoneTTL is how long a removal is remembered: at least the prune TTL,
// and a day when pruning is off, longer than a Hermes session usually lives.
func (p *Pool) tombstoneTTL() float64 {
	return max(p.cfg.PruneDeadAfter.Seconds(), 86400)
}

// sweepTombstones forgets removals older than tombstoneTTL.
func (p *Pool) sweepTombstones(now float64) {
	ttl := p.tombstoneTTL()
	for k, ts := range p.tombstones {
		if now-ts.at > ttl {
			delete(p.tombstones, k)
			p.stateDirty = true
		}
	}
}

// State is what the pool remembers beyond auth.json and must keep across a
// restart: removals, replaced token generations and quota readings. It
// holds fingerprints, never tokens.
type State struct {
	Tombstones []TombstoneState `json:"tombstones"`
	History    []HistoryState   `json:"history"`
	Quota      []QuotaState     `json:"quota"`
}

// QuotaState is one entry's quota readings.
type QuotaState struct {
	Provider string      `json:"provider"`
	ID       string      `json:"id"`
	State    quota.State `json:"state"`
}

// TombstoneState is one remembered removal.
type TombstoneState struct {
	Provider   string  `json:"provider"`
	ID         string  `json:"id"`
	Generation string  `json:"generation"`
	RemovedAt  float64 `json:"removed_at"`
}

// HistoryState is one entry's replaced generations, newest first.
type HistoryState struct {
	Provider    string   `json:"provider"`
	ID          string   `json:"id"`
	Generations []string `json:"generations"`
}

// ExportState returns the state to persist, in a stable order, and clears
// StateDirty.
func (p *Pool) ExportState() State {
	var s State
	for k, ts := range p.tombstones {
		s.Tombstones = append(s.Tombstones, TombstoneState{Provider: k.provider, ID: k.id, Generation: ts.gen.String(), RemovedAt: ts.at})
	}
	slices.SortFunc(s.Tombstones, func(a, b TombstoneState) int {
		if a.Provider != b.Provider {
			return cmp.Compare(a.Provider, b.Provider)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, name := range p.sortedNames() {
		for _, e := range p.pools[name].entries {
			if e.quota != nil && len(e.quota.Windows()) > 0 {
				s.Quota = append(s.Quota, QuotaState{Provider: name, ID: e.ID, State: *e.quota})
			}
			if len(e.history) == 0 {
				continue
			}
			h := HistoryState{Provider: name, ID: e.ID}
			for _, g := range e.history {
				h.Generations = append(h.Generations, g.String())
			}
			s.History = append(s.History, h)
		}
	}
	p.stateDirty = false
	return s
}

// StateDirty reports whether ExportState would give something new.
func (p *Pool) StateDirty() bool { return p.stateDirty }

// ImportState restores persisted state. Call it before the first Load:
// histories are attached to entries as they are loaded. Malformed items are
// skipped.
func (p *Pool) ImportState(s State) {
	for _, ts := range s.Tombstones {
		if g, ok := parseGeneration(ts.Generation); ok && ts.Provider != "" && ts.ID != "" {
			p.tombstones[pkey{ts.Provider, ts.ID}] = tombstone{gen: g, at: ts.RemovedAt}
		}
	}
	for _, q := range s.Quota {
		if q.Provider != "" && q.ID != "" {
			if p.pendingQuota == nil {
				p.pendingQuota = map[pkey]*quota.State{}
			}
			st := q.State
			p.pendingQuota[pkey{q.Provider, q.ID}] = &st
		}
	}
	for _, h := range s.History {
		var gens []generation
		for _, str := range h.Generations {
			if g, ok := parseGeneration(str); ok && len(gens) < maxHistory {
				gens = append(gens, g)
			}
		}
		if len(gens) > 0 {
			if p.pendingHistory == nil {
				p.pendingHistory = map[pkey][]generation{}
			}
			p.pendingHistory[pkey{h.Provider, h.ID}] = gens
		}
	}
}

// StateNotSaved says the last ExportState could not be saved: StateDirty
// is true again.
func (p *Pool) StateNotSaved() { p.stateDirty = true }
