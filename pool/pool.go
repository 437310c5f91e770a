package pool

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/credpool/credpool/quota"
	"github.com/credpool/credpool/redact"
)

// Pool is the live state of every provider's pool. It is not safe for
// concurrent use: the daemon serialises calls.
type Pool struct {
	cfg Config

	pools map[string]*provPool
	// singletons remembers the last non-empty singleton tokens seen per
	// provider, for rule 3 (an alias of the previous singleton follows it).
	singletons map[string]Tokens
	leases     map[string]*Lease
	// tombstones are the entries this process removed, kept so that a stale
	// writer that brings one back with the same id and tokens is undone.
	tombstones map[pkey]tombstone
	// pendingHistory holds imported token histories until their entries
	// are loaded.
	pendingHistory map[pkey][]generation
	pendingQuota   map[pkey]*quota.State
	// repairing names the providers whose duplicate ids the next Sync
	// replaces.
	repairing map[string]bool
	// dirt says what the file lacks; see Dirty.
	dirt   dirt
	loaded bool
	// stateDirty: tombstones or token histories changed since ExportState.
	stateDirty bool
	// tokVer counts changes of tokens anywhere; red is the redactor of
	// the tokens as of redVer.
	tokVer, redVer uint64
	red            *redact.Redactor
}

// pkey names one entry across providers.
type pkey struct{ provider, id string }

// entryState is an entry plus what this process knows about it beyond the
// file.
type entryState struct {
	Entry
	// What the file held for the entry when this process last read or wrote
	// it. A count or a priority that differs was changed here; a re-auth
	// writer that left the status as it found it is told by seenStatus.
	seenStatus   StatusFields
	seenCount    int
	seenPriority int
	// verdictAt is when the current verdict was observed, on this daemon's
	// clock: a skewed writer's future last_status_at counts as the moment
	// it was read.
	verdictAt float64
	// endedAt is the last_status_at of a cooldown this process ended by
	// time, and carriedAt that of a verdict that a re-authenticating writer
	// left on the new tokens: either read back from the file is over, not
	// new, and the file is told (the first with the batched changes, the
	// second at once).
	endedAt, carriedAt float64
	// history holds the token pairs this entry has replaced, newest first:
	// a write that brings one back is stale.
	history []generation
	// retiredAccess fingerprints the access tokens of those pairs, newest
	// first: a report naming one is about a pair already replaced (kept in
	// memory only: such reports come within seconds of the change).
	retiredAccess []generation
	// addPending: this process added the entry and the file does not hold
	// it yet.
	addPending bool
	// skew remembers when a future timestamp of another writer was first
	// read, so that it keeps the same place in the order of events on
	// every later read.
	skew map[float64]float64
	// modelMax is the latest model cooldown end, 0 if none: most selects
	// never look at the map.
	modelMax float64
	// quota is what the provider's rate-limit headers said (nil: nothing).
	quota *quota.State
	// exp is when the access token expires (0 unknown); see tokensChanged.
	exp float64
	// OAuth refresh state: in flight, asked for by a 401, the last error.
	refreshing, refreshWanted bool
	refreshErr                string
	// external: the tokens come from another tool's login file and are
	// never written to auth.json (the row keeps secret_fingerprint);
	// loginBroken says why that login cannot be used.
	external    bool
	loginBroken string
	leases      int // live leases (expired ones are swept lazily)
}

// provPool is one provider's pool.
type provPool struct {
	name    string
	entries []*entryState // file order
	byPrio  []*entryState // selection order: priority, ties by file order
	byID    map[string]*entryState
	// byToken lists the holders of each access token in file order: a
	// report marks them all, and a hint finds them.
	byToken map[string][]*entryState
	// problems are what the file holds that credpool cannot use as it is
	// (duplicate ids); health and status show them.
	problems []Problem
	// unreadable are the rows with a field that could not be read; health
	// and status show them beside problems (repair does not mend them).
	unreadable []Problem
	// threshold is the quota utilization at which a credential is skipped.
	threshold float64
	// tokVer is the pool's count of token changes, bumped on every reindex.
	tokVer *uint64

	soleKnown, soleVal bool
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.MaxLeases <= 0 {
		cfg.MaxLeases = 1
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Minute
	}
	if cfg.DefaultStrategy == "" {
		cfg.DefaultStrategy = FillFirst
	}
	if cfg.PruneDeadAfter < 0 {
		cfg.PruneDeadAfter = 0
	}
	return &Pool{
		cfg:        cfg,
		pools:      map[string]*provPool{},
		singletons: map[string]Tokens{},
		leases:     map[string]*Lease{},
		tombstones: map[pkey]tombstone{},
	}
}

// Counts returns the number of pools and entries.
func (p *Pool) Counts() (pools, entries int) {
	for _, pp := range p.pools {
		entries += len(pp.entries)
	}
	return len(p.pools), entries
}

func (p *Pool) newProvPool(name string) *provPool {
	th := p.cfg.QuotaThreshold
	if th <= 0 {
		th = quota.DefaultThreshold
	}
	return &provPool{name: name, byID: map[string]*entryState{}, byToken: map[string][]*entryState{},
		threshold: th, tokVer: &p.tokVer}
}

// reindex rebuilds byID and byPrio after entries changed.
func (pp *provPool) reindex() {
	clear(pp.byID)
	for _, e := range pp.entries {
		pp.byID[e.ID] = e
	}
	pp.reindexTokens()
	pp.byPrio = append(pp.byPrio[:0], pp.entries...)
	slices.SortStableFunc(pp.byPrio, func(a, b *entryState) int { return cmp.Compare(a.Priority, b.Priority) })
	pp.statusesChanged()
}

func (pp *provPool) reindexTokens() {
	*pp.tokVer++
	clear(pp.byToken)
	for _, e := range pp.entries {
		if e.AccessToken != "" {
			pp.byToken[e.AccessToken] = append(pp.byToken[e.AccessToken], e)
		}
	}
}

// holders are the entries that hold e's token (e itself when it has none).
func (pp *provPool) holders(e *entryState) []*entryState {
	if h := pp.byToken[e.AccessToken]; e.AccessToken != "" && len(h) > 0 {
		return h
	}
	return []*entryState{e}
}

// drop removes e from the pool and ends its leases.
func (p *Pool) drop(pp *provPool, e *entryState) {
	pp.entries = slices.DeleteFunc(pp.entries, func(x *entryState) bool { return x == e })
	pp.byPrio = slices.DeleteFunc(pp.byPrio, func(x *entryState) bool { return x == e })
	delete(pp.byID, e.ID)
	if h := pp.byToken[e.AccessToken]; len(h) > 0 {
		if h = slices.DeleteFunc(slices.Clone(h), func(x *entryState) bool { return x == e }); len(h) > 0 {
			pp.byToken[e.AccessToken] = h
		} else {
			delete(pp.byToken, e.AccessToken)
		}
	}
	pp.statusesChanged()
	p.dropLeases(pp, e)
}

// dropLeases ends every lease of e.
func (p *Pool) dropLeases(pp *provPool, e *entryState) {
	if e.leases > 0 {
		for id, l := range p.leases {
			if l.Provider == pp.name && l.EntryID == e.ID {
				delete(p.leases, id)
			}
		}
		e.leases = 0
	}
}

// sortedNames returns the providers in name order, so that changes come out
// in a stable order.
func (p *Pool) sortedNames() []string {
	names := make([]string, 0, len(p.pools))
	for n := range p.pools {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (p *Pool) now() (time.Time, float64) {
	t := p.cfg.Now()
	return t, epochOf(t)
}
