package daemon

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

var _ socketapi.Backend = (*Daemon)(nil)

// Health answers /v1/health.
func (d *Daemon) Health() apitype.Health {
	h := d.health.Load()
	d.mu.Lock()
	pools, entries := d.pool.Counts()
	var problems []pool.Problem
	for _, v := range d.pool.Views() {
		problems = append(problems, v.Problems...)
	}
	pending, _ := d.pool.Dirty()
	d.mu.Unlock()
	out := apitype.Health{
		Status: "ok", Version: d.cfg.Version, AuthFile: d.cfg.AuthFile,
		Pools: pools, Entries: entries, PendingWrite: pending && h.pendingSince > 0,
		Problems: apitype.ProblemsFrom(problems), Gateway: d.gw.address(),
	}
	if h.lastReloadAt > 0 {
		at := h.lastReloadAt
		out.LastReloadAt = &at
	}
	switch {
	case h.readErr != "":
		out.Status, out.LastError = "degraded", &h.readErr
	case h.writeErr != "":
		out.Status, out.LastError = "degraded", &h.writeErr
	}
	if len(problems) > 0 {
		out.Status = "degraded"
		if out.LastError == nil {
			msg := problems[0].What
			out.LastError = &msg
		}
	}
	return out
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
func (d *Daemon) Select(ctx context.Context, provider string, req apitype.SelectRequest) (pool.Selection, error) {
	opt := pool.SelectOptions{Strategy: pool.Strategy(req.Strategy), Lease: req.Lease, Model: req.Model, Exclude: req.Exclude}
	var timeout <-chan time.Time
	waitedForRefresh := false
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
			if len(sel.Changes) > 0 || !d.writeArmed.Load() {
				d.kickIO()
			}
			return sel, nil
		}
		var none *pool.NoneAvailableError
		if timeout == nil && errors.As(err, &none) && none.Refreshing && !waitedForRefresh {
			// Nothing else to hand out, and a refresh is in flight:
			// wait for it a little rather than fail.
			waitedForRefresh = true
			t := time.NewTimer(refreshWaitDefault)
			defer t.Stop()
			timeout = t.C
		}
		if timeout == nil || !errors.Is(err, pool.ErrNoneAvailable) {
			return pool.Selection{}, err
		}
		select {
		case <-avail:
		case <-timeout:
			timeout = nil // one last look, then answer
		case <-ctx.Done():
			return pool.Selection{}, err
		case <-d.stopping:
			return pool.Selection{}, apitype.ErrShuttingDown
		}
	}
}

// Report marks the reported entry and answers the next credential, once
// the mark is on disk.
func (d *Daemon) Report(ctx context.Context, provider string, req apitype.ReportRequest) (socketapi.ReportResult, error) {
	res, seq, err := d.report(provider, req)
	if err != nil {
		return socketapi.ReportResult{}, err
	}
	pers := d.persisted(ctx, seq)
	if res.Marked != nil {
		// Answer what is true now, on disk: a reset that landed meanwhile
		// may have voided the mark.
		d.mu.Lock()
		if m, err := d.pool.Verdict(provider, res.Marked.ID, res.Marked.Model); err == nil {
			res.Marked = &m
		}
		d.mu.Unlock()
	}
	return socketapi.ReportResult{Marked: res.Marked, Next: res.Next, RetryAfter: res.RetryAfter, Stale: res.Stale, Persistence: pers}, nil
}

// report applies a report to the pool in memory, publishes what changed and
// numbers the change for the disk (0: nothing to write). Every later select
// sees it at once; whether to wait for the write is the caller's choice.
func (d *Daemon) report(provider string, req apitype.ReportRequest) (pool.ReportResult, uint64, error) {
	d.mu.Lock()
	marks := d.pool.Marks()
	res, err := d.pool.Report(provider, pool.Report{
		CredentialID: req.CredentialID, LeaseID: req.LeaseID, APIKeyHint: req.APIKeyHint,
		StatusCode: req.StatusCode, Reason: req.Reason, Message: req.Message,
		ResetAt: string(req.ResetAt), RetryAfter: string(req.RetryAfter), FailureReason: req.FailureReason,
		Model: req.Model, Headers: lowerKeys(req.Headers), NoNext: req.NoNext,
	})
	what := ""
	if res.Marked != nil {
		what = string(res.Marked.Status) + " " + provider + "/" + res.Marked.ID
	}
	seq := d.numberLocked(marks, what)
	d.mu.Unlock()
	if err != nil {
		return res, 0, err
	}
	switch {
	case res.Unmatched:
		d.log.Info("report matched no credential", "provider", provider, "code", req.StatusCode)
	case res.Stale:
		d.log.Debug("report on a pair the credential has replaced; nothing marked", "provider", provider, "code", req.StatusCode)
	}
	if res.RefreshWanted {
		d.refresher.now()
	}
	if len(res.Ignored) > 0 {
		// Names only: the values are the provider's and were not trusted.
		d.log.Debug("ignored rate-limit headers whose values could not be read", "provider", provider, "headers", res.Ignored)
	}
	d.apply(res.Changes)
	if seq == 0 && !d.writeArmed.Load() {
		// Nothing to wait for, but maybe something to write later
		// (counts, quota readings): the io loop arms its timer for it.
		d.kickIO()
	}
	return res, seq, nil
}

// lowerKeys gives header names the one case pool reads them in.
func lowerKeys(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = v
	}
	return out
}

// Release ends a lease.
func (d *Daemon) Release(leaseID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pool.Release(leaseID)
}

// AddEntry adds a manual credential and answers once it is on disk.
func (d *Daemon) AddEntry(ctx context.Context, provider string, req apitype.AddRequest) (pool.EntryView, apitype.Persistence, error) {
	d.mu.Lock()
	marks := d.pool.Marks()
	v, changes, err := d.pool.Add(provider, pool.NewEntry{
		Label: req.Label, AuthType: req.AuthType, AccessToken: req.AccessToken,
		RefreshToken: req.RefreshToken, BaseURL: req.BaseURL, Priority: req.Priority,
	})
	seq := d.adminLocked(marks, "add "+provider+"/"+v.ID)
	d.mu.Unlock()
	return v, d.afterAdmin(ctx, seq, changes), err
}

// RemoveEntry removes the entry target names and answers once it is gone
// from disk.
func (d *Daemon) RemoveEntry(ctx context.Context, provider, target string) (pool.EntryView, apitype.Persistence, error) {
	d.mu.Lock()
	marks := d.pool.Marks()
	v, changes, err := d.pool.Remove(provider, target)
	seq := d.adminLocked(marks, "remove "+provider+"/"+v.ID)
	d.mu.Unlock()
	return v, d.afterAdmin(ctx, seq, changes), err
}

// Reset ends verdicts and answers once the reset is on disk.
func (d *Daemon) Reset(ctx context.Context, provider, target string) (int, apitype.Persistence, error) {
	d.mu.Lock()
	marks := d.pool.Marks()
	n, changes, err := d.pool.Reset(provider, target)
	seq := d.adminLocked(marks, strings.TrimSpace("reset "+provider+" "+target))
	d.mu.Unlock()
	return n, d.afterAdmin(ctx, seq, changes), err
}

// Repair gives rows with a duplicated id ids of their own and answers once
// they are on disk; with none to repair it answers at once.
func (d *Daemon) Repair(ctx context.Context, provider string) (int, apitype.Persistence, error) {
	d.mu.Lock()
	marks := d.pool.Marks()
	n, err := d.pool.Repair(provider)
	seq := d.adminLocked(marks, "repair "+provider)
	d.mu.Unlock()
	return n, d.afterAdmin(ctx, seq, nil), err
}

// numberLocked numbers the change a pool call made, for its answer to wait
// for on disk, when the call marked something to write (marks is
// Pool.Marks before the call). A call that changed nothing but answers a
// state (what != "": a verdict, an entry) waits for the changes still
// pending, which may be what it shows (a 429 on an entry whose DEAD is not
// written yet answers "dead"). Otherwise 0: nothing to wait for, and a
// write that is not coming would keep the answer waiting for the answer
// timeout. Callers hold d.mu.
func (d *Daemon) numberLocked(marks uint64, what string) uint64 {
	if d.pool.Marks() == marks {
		if what != "" && d.dur.seq > d.dur.durable {
			return d.dur.seq
		}
		return 0
	}
	return d.changedLocked(what)
}

// adminLocked numbers an admin change that marked something to write and
// wakes waiting selects. Callers hold d.mu.
func (d *Daemon) adminLocked(marks uint64, what string) uint64 {
	seq := d.numberLocked(marks, what)
	if seq > 0 {
		d.wakeLocked()
	}
	return seq
}

func (d *Daemon) afterAdmin(ctx context.Context, seq uint64, changes []pool.Change) apitype.Persistence {
	d.apply(changes)
	return d.persisted(ctx, seq)
}

// Subscribe follows the event stream.
func (d *Daemon) Subscribe(ctx context.Context) <-chan apitype.Event {
	return d.hub.subscribe(ctx)
}

// Stats feeds /metrics.
func (d *Daemon) Stats() socketapi.Stats {
	d.stats.mu.Lock()
	tr, rf := maps.Clone(d.stats.transitions), maps.Clone(d.stats.refreshes)
	d.stats.mu.Unlock()
	return socketapi.Stats{
		Transitions: tr, Refreshes: rf, Reloads: d.stats.reloads.Load(),
		ReloadErrors: d.stats.reloadErrors.Load(), Prunes: d.stats.prunes.Load(),
		DroppedEvents: d.hub.dropped.Load(), WriteErrors: d.stats.writeErrors.Load(),
	}
}
