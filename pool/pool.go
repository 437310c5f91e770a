package pool

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
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
	patches    map[pkey]*pending
	seq        int64 // order of new patches
	lowSeq     int64 // order of restored patches, before every new one
	loaded     bool
}

// pkey names one entry across providers.
type pkey struct{ provider, id string }

// entryState is an entry plus what this process knows about it beyond the
// file.
type entryState struct {
	Entry
	// seenTokens and seenStatus are what this process believes the file holds
	// for the entry (the last Load, plus the patches handed over for writing
	// since). A different token on disk means another process re-authenticated.
	seenTokens   Tokens
	seenStatus   Status
	seenPriority int
	leases       int // live leases (expired ones are swept lazily)
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
	// prioDirty: round_robin renumbered priorities in memory; TakePatches
	// turns the ones that differ from the file into patches. Renumbering
	// touches every entry, so queueing a patch each time would not be cheap.
	prioDirty bool
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
		patches:    map[pkey]*pending{},
	}
}

// Counts returns the number of pools and entries.
func (p *Pool) Counts() (pools, entries int) {
	for _, pp := range p.pools {
		entries += len(pp.entries)
	}
	return len(p.pools), entries
}

func newProvPool(name string) *provPool {
	return &provPool{name: name, byID: map[string]*entryState{}, byToken: map[string][]*entryState{}}
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
}

func (pp *provPool) reindexTokens() {
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

// pendingPriority reports whether this process holds an unwritten priority
// for e.
func (p *Pool) pendingPriority(pp *provPool, e *entryState) (int, bool) {
	if pt := p.pendingPatch(pp.name, e.ID); pt != nil && pt.Priority != nil {
		return *pt.Priority, true
	}
	if pp.prioDirty && e.Priority != e.seenPriority {
		return e.Priority, true
	}
	return 0, false
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
	return t, epoch(t)
}
