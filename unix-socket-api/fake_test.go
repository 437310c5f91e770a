package socketapi

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/quota"
)

// Distinctive secrets: no log line, error, event or metric may ever show them.
const (
	secretAccess  = "sk-ACCESS-zq7Xv9Kp3LmN8wR2"
	secretRefresh = "rt-REFRESH-hY4tB6nQ1sD5fG0j"
	secretAdded   = "sk-ADDED-Jm3Vc8Xq2Lp7Rt5w"
)

// fakeBackend is an in-memory Backend: the server's behaviour is what is under
// test, pool's logic is tested in pool.
type fakeBackend struct {
	mu         sync.Mutex
	pools      map[string]pool.PoolView
	nextAt     float64 // NextAvailableAt of select's NoneAvailableError
	none       bool    // select answers "none available"
	excluded   bool    // ... because the select excludes every live entry
	selectWait chan struct{}
	// noneOnCancel: a select whose context ends answers "none available",
	// as the real daemon may when the server's stop ends its wait.
	noneOnCancel bool
	// reportGate, when set, holds every report until it is closed; the
	// report's start is signalled on reportStarted. It does not watch its
	// ctx, so this is a handler that ignores shutdown.
	reportGate    chan struct{}
	reportStarted chan struct{}
	selects       []apitype.SelectRequest
	reports       []apitype.ReportRequest
	adds          []apitype.AddRequest
	resets        [][2]string
	subs          map[chan apitype.Event]struct{}
	subscribed    chan struct{} // gets a value per Subscribe
	stats         Stats
	panicMsg      string // apitype.Health panics with this when set
}

func newFake() *fakeBackend {
	return &fakeBackend{
		pools: map[string]pool.PoolView{
			"openrouter": {
				Provider: "openrouter", Strategy: pool.FillFirst, Available: 1, NextAvailableAt: 1700003600,
				Entries: []pool.EntryView{
					{ID: "a1b2c3", Label: "primary", AuthType: "api_key", Source: "manual", TokenHint: "wR2",
						Status: pool.StatusOK, Available: true, RequestCount: 7},
					{ID: "d4e5f6", Label: "backup", AuthType: "api_key", Priority: 1, Source: "manual",
						TokenHint: "7Rt5", Status: pool.StatusExhausted, Until: 1700003600, LastStatusAt: 1700000000,
						LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorResetAt: 1700003600,
						Quota: []quota.Reading{{Window: quota.Window{Key: "openai/requests", Remaining: 0, Limit: 500,
							Utilization: quota.Unknown, ResetAt: 1700000030, SeenAt: 1700000000}, End: 1700000030, Left: 0,
							Blocks: true, Tightest: true}},
						QuotaUntil: 1700000030},
					{ID: "0a0b0c", Label: "old", AuthType: "oauth", Priority: 2, Source: "device_code",
						Status: pool.StatusDead, LastStatusAt: 1700000000, LastErrorCode: 401,
						LastErrorReason: "token_invalidated", PruneAt: 0},
				},
			},
		},
		subs:       map[chan apitype.Event]struct{}{},
		subscribed: make(chan struct{}, 16),
		stats: Stats{Transitions: map[string]uint64{"ok": 2, "exhausted": 5, "dead": 1},
			Reloads: 4, ReloadErrors: 1, Prunes: 3},
	}
}

func (f *fakeBackend) Health() apitype.Health {
	f.mu.Lock()
	msg := f.panicMsg
	f.mu.Unlock()
	if msg != "" {
		panic(msg)
	}
	at := 1700000000.0
	return apitype.Health{Status: "ok", Version: "test", AuthFile: "/tmp/auth.json", Pools: 1, Entries: 3, LastReloadAt: &at}
}

func (f *fakeBackend) Pools() []pool.PoolView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []pool.PoolView{f.pools["openrouter"]}
}

func (f *fakeBackend) Pool(provider string) (pool.PoolView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.pools[provider]
	if !ok {
		return pool.PoolView{}, fmt.Errorf("pool %q: %w", provider, pool.ErrUnknownPool)
	}
	return v, nil
}

func (f *fakeBackend) known(provider string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pools[provider]; !ok {
		return fmt.Errorf("pool %q: %w", provider, pool.ErrUnknownPool)
	}
	return nil
}

func (f *fakeBackend) Select(ctx context.Context, provider string, req apitype.SelectRequest) (pool.Selection, error) {
	if err := f.known(provider); err != nil {
		return pool.Selection{}, err
	}
	if req.Strategy != "" && req.Strategy != "fill_first" && req.Strategy != "round_robin" {
		return pool.Selection{}, fmt.Errorf("strategy %q: %w", req.Strategy, pool.ErrUnknownStrategy)
	}
	f.mu.Lock()
	f.selects = append(f.selects, req)
	none, nextAt, excluded, wait, noneOnCancel := f.none, f.nextAt, f.excluded, f.selectWait, f.noneOnCancel
	f.mu.Unlock()
	if wait != nil && req.WaitMS > 0 {
		select {
		case <-wait:
		case <-ctx.Done():
			if noneOnCancel {
				return pool.Selection{}, &pool.NoneAvailableError{Provider: provider, NextAvailableAt: nextAt}
			}
			return pool.Selection{}, apitype.ErrShuttingDown
		}
	}
	if none {
		return pool.Selection{}, &pool.NoneAvailableError{Provider: provider, NextAvailableAt: nextAt, Excluded: excluded}
	}
	resp := pool.Selection{Credential: pool.Credential{ID: "a1b2c3", Provider: provider, Label: "primary",
		AuthType: "api_key", Source: "manual", AccessToken: secretAccess, RequestCount: 8}}
	if req.Lease {
		resp.Lease = &pool.Lease{ID: "lease-1", ExpiresAt: 1700000600}
	}
	return resp, nil
}

func (f *fakeBackend) Report(ctx context.Context, provider string, req apitype.ReportRequest) (ReportResult, error) {
	if err := f.known(provider); err != nil {
		return ReportResult{}, err
	}
	f.mu.Lock()
	f.reports = append(f.reports, req)
	gate := f.reportGate
	f.mu.Unlock()
	if gate != nil {
		f.reportStarted <- struct{}{}
		<-gate
	}
	if req.StatusCode < 400 {
		return ReportResult{Persistence: apitype.Persistence{Persisted: true}}, nil
	}
	if req.Model != "" { // as if model-scoped: benched for that model only
		return ReportResult{Marked: &pool.Marked{ID: "a1b2c3", Status: pool.StatusOK, Until: 1700003600, Model: req.Model},
			Persistence: apitype.Persistence{Persisted: true}}, nil
	}
	return ReportResult{
		Marked: &pool.Marked{ID: "a1b2c3", Status: pool.StatusExhausted, Until: 1700003600},
		Next: &pool.Credential{ID: "d4e5f6", Provider: provider, Label: "backup", AuthType: "api_key",
			Source: "manual", AccessToken: secretAdded, Priority: 1},
		Persistence: apitype.Persistence{Persisted: true},
	}, nil
}

func (f *fakeBackend) Release(leaseID string) error {
	if leaseID != "lease-1" {
		return fmt.Errorf("lease %q: %w", leaseID, pool.ErrUnknownLease)
	}
	return nil
}

var persisted = apitype.Persistence{Persisted: true}

func (f *fakeBackend) AddEntry(ctx context.Context, provider string, req apitype.AddRequest) (pool.EntryView, apitype.Persistence, error) {
	if err := f.known(provider); err != nil {
		return pool.EntryView{}, apitype.Persistence{}, err
	}
	if req.AuthType != "" && req.AuthType != "api_key" && req.AuthType != "oauth" {
		return pool.EntryView{}, apitype.Persistence{}, fmt.Errorf("auth_type %q: %w", req.AuthType, pool.ErrBadInput)
	}
	f.mu.Lock()
	f.adds = append(f.adds, req)
	f.mu.Unlock()
	prio := 3
	if req.Priority != nil {
		prio = *req.Priority
	}
	return pool.EntryView{ID: "fff000", Label: req.Label, AuthType: "api_key", Priority: prio, Source: "manual",
		TokenHint: req.AccessToken[max(0, len(req.AccessToken)-4):], Status: pool.StatusOK, Available: true}, persisted, nil
}

func (f *fakeBackend) RemoveEntry(ctx context.Context, provider, target string) (pool.EntryView, apitype.Persistence, error) {
	if err := f.known(provider); err != nil {
		return pool.EntryView{}, apitype.Persistence{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var found []pool.EntryView
	for i, e := range f.pools[provider].Entries {
		if e.ID == target || e.Label == target || strconv.Itoa(i+1) == target || (target == "dup" && i < 2) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return pool.EntryView{}, apitype.Persistence{}, fmt.Errorf("target %q: %w", target, pool.ErrNoTarget)
	case 1:
		return found[0], persisted, nil
	}
	return pool.EntryView{}, apitype.Persistence{}, fmt.Errorf("target %q: %w", target, pool.ErrAmbiguousTarget)
}

func (f *fakeBackend) Reset(ctx context.Context, provider, target string) (int, apitype.Persistence, error) {
	if err := f.known(provider); err != nil {
		return 0, apitype.Persistence{}, err
	}
	f.mu.Lock()
	f.resets = append(f.resets, [2]string{provider, target})
	f.mu.Unlock()
	if target == "" {
		return 2, persisted, nil
	}
	return 1, persisted, nil
}

func (f *fakeBackend) Repair(ctx context.Context, provider string) (int, apitype.Persistence, error) {
	if err := f.known(provider); err != nil {
		return 0, apitype.Persistence{}, err
	}
	return 0, persisted, nil
}

func (f *fakeBackend) Subscribe(ctx context.Context) <-chan apitype.Event {
	ch := make(chan apitype.Event, 16)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	f.subscribed <- struct{}{}
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		close(ch)
	})
	return ch
}

// publish sends ev to every follower, dropping it for one whose buffer is
// full, as the daemon does.
func (f *fakeBackend) publish(ev apitype.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (f *fakeBackend) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}
