package socketapi

import (
	"context"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/pool"
)

// Backend is what the server serves; the daemon implements it. Methods that
// change state return after the change is on disk, or say in Persistence
// why it is not (yet).
type Backend interface {
	Health() apitype.Health
	Pools() []pool.PoolView
	Pool(provider string) (pool.PoolView, error)
	// Select blocks up to req.WaitMS until a credential is available; ctx
	// ends with the request. While the daemon stops it answers
	// apitype.ErrShuttingDown.
	Select(ctx context.Context, provider string, req apitype.SelectRequest) (pool.Selection, error)
	Report(ctx context.Context, provider string, req apitype.ReportRequest) (ReportResult, error)
	Release(leaseID string) error
	AddEntry(ctx context.Context, provider string, req apitype.AddRequest) (pool.EntryView, apitype.Persistence, error)
	RemoveEntry(ctx context.Context, provider, target string) (pool.EntryView, apitype.Persistence, error)
	Reset(ctx context.Context, provider, target string) (int, apitype.Persistence, error)
	Repair(ctx context.Context, provider string) (int, apitype.Persistence, error)
	// Subscribe returns a channel of events until ctx ends; the daemon drops
	// events for a follower that does not keep up (and counts them).
	Subscribe(ctx context.Context) <-chan apitype.Event
	Stats() Stats
}

// ReportResult is the backend's answer to a report.
type ReportResult struct {
	Marked *pool.Marked
	Next   *pool.Credential
	// RetryAfter (seconds) is set when the provider asked for a short wait
	// and no other credential is available.
	RetryAfter float64
	// Stale: the report was about a pair the credential no longer holds.
	Stale bool
	apitype.Persistence
}

// Stats are the daemon's counters that /metrics exports.
type Stats struct {
	// Transitions counts changes of status by new status: ok, exhausted, dead.
	Transitions map[string]uint64
	// Refreshes counts OAuth refreshes by provider and outcome.
	Refreshes     map[[2]string]uint64
	Reloads       uint64
	ReloadErrors  uint64
	Prunes        uint64
	DroppedEvents uint64
	WriteErrors   uint64
}
