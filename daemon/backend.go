package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

var _ socketapi.Backend = (*Daemon)(nil)

// Health answers /v1/health.
func (d *Daemon) Health() socketapi.Health {
	h := d.health.Load()
	d.mu.Lock()
	pools, entries := d.pool.Counts()
	d.mu.Unlock()
	status := "ok"
	if h.degraded {
		status = "degraded"
	}
	return socketapi.Health{
		Status: status, Version: d.cfg.Version, AuthFile: d.cfg.AuthFile,
		Pools: pools, Entries: entries, LastReloadAt: h.lastReloadAt, LastError: h.lastError,
	}
}

// Pools answers /v1/pools.
func (d *Daemon) Pools() []pool.PoolView {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pool.Views()
}

// Pool answers /v1/pools/{provider}.
func (d *Daemon) Pool(provider string) (pool.PoolView, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pool.View(provider)
}

// Select hands out a credential. With a wait it blocks until one becomes
// available: every change that can free one closes d.avail, so a waiter
// wakes at once instead of polling.
func (d *Daemon) Select(ctx context.Context, provider string, req socketapi.SelectRequest) (socketapi.SelectResponse, error) {
	opt := pool.SelectOptions{Strategy: pool.Strategy(req.Strategy), Lease: req.Lease}
	var timeout <-chan time.Time
	if req.WaitMS > 0 {
		t := time.NewTimer(time.Duration(req.WaitMS) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	for {
		d.mu.Lock()
		sel, err := d.pool.Select(provider, opt)
		avail := d.avail
		d.mu.Unlock()
		if err == nil {
			d.apply(sel.Changes)
			if len(sel.Changes) > 0 || !d.flushArmed.Load() {
				d.kickIO()
			}
			return socketapi.SelectResponse{Credential: sel.Credential, Lease: sel.Lease}, nil
		}
		if timeout == nil || !errors.Is(err, pool.ErrNoneAvailable) {
			return socketapi.SelectResponse{}, err
		}
		select {
		case <-avail:
		case <-timeout:
			timeout = nil // one last look, then answer
		case <-ctx.Done():
			return socketapi.SelectResponse{}, err
		case <-d.stopping:
			return socketapi.SelectResponse{}, err
		}
	}
}

// Report marks the reported entry and answers the next credential.
func (d *Daemon) Report(provider string, req socketapi.ReportRequest) (socketapi.ReportResponse, error) {
	d.mu.Lock()
	res, err := d.pool.Report(provider, pool.Report{
		CredentialID: req.CredentialID, LeaseID: req.LeaseID, APIKeyHint: req.APIKeyHint,
		StatusCode: req.StatusCode, Reason: req.Reason, Message: req.Message,
		ResetAt: string(req.ResetAt), RetryAfter: string(req.RetryAfter), FailureReason: req.FailureReason,
	})
	d.mu.Unlock()
	if err != nil {
		return socketapi.ReportResponse{}, err
	}
	if res.Unmatched {
		d.log.Info("report matched no credential", "provider", provider, "code", req.StatusCode)
	}
	d.apply(res.Changes)
	d.kickIO()
	return socketapi.ReportResponse{Marked: res.Marked, Next: res.Next}, nil
}

// Release ends a lease.
func (d *Daemon) Release(leaseID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pool.Release(leaseID)
}

// AddEntry adds a manual credential.
func (d *Daemon) AddEntry(provider string, req socketapi.AddRequest) (pool.EntryView, error) {
	d.mu.Lock()
	v, changes, err := d.pool.Add(provider, pool.NewEntry{
		Label: req.Label, AuthType: req.AuthType, AccessToken: req.AccessToken,
		RefreshToken: req.RefreshToken, BaseURL: req.BaseURL, Priority: req.Priority,
	})
	if err == nil {
		d.wakeLocked()
	}
	d.mu.Unlock()
	return v, d.afterAdmin(changes, err)
}

// RemoveEntry removes the entry target names.
func (d *Daemon) RemoveEntry(provider, target string) (pool.EntryView, error) {
	d.mu.Lock()
	v, changes, err := d.pool.Remove(provider, target)
	d.mu.Unlock()
	return v, d.afterAdmin(changes, err)
}

// Reset clears statuses.
func (d *Daemon) Reset(provider, target string) (int, error) {
	d.mu.Lock()
	n, changes, err := d.pool.Reset(provider, target)
	if err == nil && n > 0 {
		d.wakeLocked()
	}
	d.mu.Unlock()
	return n, d.afterAdmin(changes, err)
}

func (d *Daemon) afterAdmin(changes []pool.Change, err error) error {
	if err != nil {
		return err
	}
	d.apply(changes)
	d.kickIO()
	return nil
}

// Subscribe follows the event stream.
func (d *Daemon) Subscribe(ctx context.Context) <-chan socketapi.Event {
	return d.hub.subscribe(ctx)
}

// Stats feeds /metrics.
func (d *Daemon) Stats() socketapi.Stats {
	d.stats.mu.Lock()
	tr := make(map[string]uint64, len(d.stats.transitions))
	for k, v := range d.stats.transitions {
		tr[k] = v
	}
	d.stats.mu.Unlock()
	return socketapi.Stats{
		Transitions: tr, Reloads: d.stats.reloads.Load(),
		ReloadErrors: d.stats.reloadErrors.Load(), Prunes: d.stats.prunes.Load(),
	}
}
