package pool

// Pool is the live state of every provider's pool. It is not safe for
// concurrent use: the daemon serialises calls.
type Pool struct {
	cfg Config
}

// New returns an empty pool.
func New(cfg Config) *Pool { return &Pool{cfg: cfg} }

// Load reconciles the pool with what is on disk now (the first call loads it).
// Entries added or removed by others appear and disappear; statuses set by
// others are taken unless this process holds a pending status patch for that
// entry; fresh tokens end DEAD and EXHAUSTED by the re-auth rules of DESIGN §2
// (and queue patches that write the cleared status back). The returned
// changes have Cause "file" or "reauth".
func (p *Pool) Load(s Snapshot) []Change { panic("unimplemented") }

// Select picks a credential of provider by the strategy and counts it.
// Errors: ErrUnknownPool, ErrUnknownStrategy, *NoneAvailableError.
func (p *Pool) Select(provider string, opt SelectOptions) (Selection, error) {
	panic("unimplemented")
}

// Report marks the entry the report identifies (and every other entry holding
// the same token) and selects the next credential. Errors: ErrUnknownPool.
func (p *Pool) Report(provider string, r Report) (ReportResult, error) {
	panic("unimplemented")
}

// Release ends a lease. Errors: ErrUnknownLease.
func (p *Pool) Release(leaseID string) error { panic("unimplemented") }

// Tick does the periodic work: recover ended cooldowns, end expired leases,
// prune manual DEAD entries past the prune TTL.
func (p *Pool) Tick() []Change { panic("unimplemented") }

// Add adds a manual entry (next priority, fresh 6-hex id).
func (p *Pool) Add(provider string, in NewEntry) (EntryView, []Change, error) {
	panic("unimplemented")
}

// Remove removes the entry that target names (id, exact label
// case-insensitive, or 1-based index). Errors: ErrUnknownPool, ErrNoTarget,
// ErrAmbiguousTarget.
func (p *Pool) Remove(provider, target string) (EntryView, []Change, error) {
	panic("unimplemented")
}

// Reset clears the status of the entry target names, or of every entry when
// target is "". It returns how many entries it reset.
func (p *Pool) Reset(provider, target string) (int, []Change, error) {
	panic("unimplemented")
}

// Views returns every pool, sorted by provider.
func (p *Pool) Views() []PoolView { panic("unimplemented") }

// View returns one pool. Errors: ErrUnknownPool.
func (p *Pool) View(provider string) (PoolView, error) { panic("unimplemented") }

// NextWake is the earliest future moment at which an entry becomes available
// by time (a cooldown end) or a lease expires, 0 if none. The daemon sleeps
// until then to wake waiting selects without polling.
func (p *Pool) NextWake() float64 { panic("unimplemented") }

// Pending reports whether patches wait to be written, and whether any of them
// is urgent.
func (p *Pool) Pending() (pending, urgent bool) { panic("unimplemented") }

// TakePatches hands over the pending patches, merged per entry, and forgets
// them. After a failed write, give them back with RestorePatches.
func (p *Pool) TakePatches() []Patch { panic("unimplemented") }

// RestorePatches puts back patches that could not be written, merging them
// with any taken since.
func (p *Pool) RestorePatches(ps []Patch) { panic("unimplemented") }

// ApplyPatches applies this process's patches to the snapshot read from disk
// now, in place (s.Pools is modified).
func ApplyPatches(s Snapshot, ps []Patch) { panic("unimplemented") }

// Counts returns the number of pools and entries.
func (p *Pool) Counts() (pools, entries int) { panic("unimplemented") }
