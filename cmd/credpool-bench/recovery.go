package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/stats"

	"github.com/gofrs/flock"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// recoveryResult is the --recovery summary, in milliseconds.
type recoveryResult struct {
	N int `json:"n"`
	// Select: from the rename to a select that returns the entry.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
	// Event: from the rename to the entry.recovered event.
	EventP50MS float64 `json:"event_p50_ms"`
	EventMaxMS float64 `json:"event_max_ms"`
}

// measureRecovery marks the fill_first entry of provider DEAD, rewrites its
// access_token the way Hermes does, and times how long it takes from the
// rename until a select returns that entry again; n times.
func measureRecovery(ctx context.Context, c *socketapi.Client, authFile, provider string, n int) (recoveryResult, error) {
	res := recoveryResult{N: n}
	pv, err := c.Pool(ctx, provider)
	if err != nil {
		return res, fmt.Errorf("recovery: %w", err)
	}
	if len(pv.Entries) < 2 {
		return res, errors.New("recovery: the pool needs at least 2 entries")
	}
	if _, err := c.Reset(ctx, provider, ""); err != nil {
		return res, fmt.Errorf("recovery: reset: %w", err)
	}
	first, err := c.Select(ctx, provider, apitype.SelectRequest{Strategy: string(pool.FillFirst)})
	if err != nil {
		return res, fmt.Errorf("recovery: %w", err)
	}
	id := first.Credential.ID

	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	ec := socketapi.NewClient(c.SocketPath())
	defer ec.Close()
	events, _ := ec.Events(ectx)
	recovered := make(chan time.Time, 16)
	var logMu sync.Mutex
	var evLog []string // the last events, to explain a recovery that never came
	go func() {
		for ev := range events {
			if ev.Type == string(pool.ChangeRecovered) && ev.ID == id && ev.Provider == provider {
				recovered <- time.Now()
			}
			logMu.Lock()
			evLog = append(evLog, fmt.Sprintf("%s %s cause=%s reason=%s", ev.Type, ev.ID, ev.Cause, ev.Reason))
			if len(evLog) > 12 {
				evLog = evLog[1:]
			}
			logMu.Unlock()
		}
	}()
	// Let the event stream connect before the first change.
	time.Sleep(50 * time.Millisecond)

	store := authfile.NewStore(authFile)
	var sel, evt []int64
	for i := range n {
		// The previous round's recovery is written back at once; report the
		// next DEAD only once it is on disk, or the DEAD seen on disk below
		// could be the previous round's.
		if err := waitStatusOnDisk(ctx, store, provider, id, pool.StatusOK); err != nil {
			return res, fmt.Errorf("recovery %d: %w", i, err)
		}
		rep, err := c.Report(ctx, provider, apitype.ReportRequest{
			CredentialID: id, StatusCode: 401, Reason: "token_invalidated", Message: "credpool-bench recovery",
		})
		if err != nil {
			return res, fmt.Errorf("recovery %d: report: %w", i, err)
		}
		if rep.Marked == nil || rep.Marked.Status != string(pool.StatusDead) {
			return res, fmt.Errorf("recovery %d: report did not mark %s DEAD", i, id)
		}
		// Hermes re-logs in long after the 401: wait until the DEAD mark is
		// on disk and the daemon's write has settled.
		if err := waitStatusOnDisk(ctx, store, provider, id, pool.StatusDead); err != nil {
			return res, fmt.Errorf("recovery %d: %w", i, err)
		}
		time.Sleep(30 * time.Millisecond)
		for len(recovered) > 0 {
			<-recovered
		}
		if s, err := c.Select(ctx, provider, apitype.SelectRequest{Strategy: string(pool.FillFirst)}); err == nil && s.Credential.ID == id {
			return res, fmt.Errorf("recovery %d: DEAD entry %s still selected", i, id)
		}

		renamed, hint, err := hermesRetoken(store, provider, id)
		if err != nil {
			return res, fmt.Errorf("recovery %d: %w", i, err)
		}
		select {
		case t := <-recovered:
			evt = append(evt, int64(t.Sub(renamed)))
		case <-time.After(5 * time.Second):
			// No event: fall through to polling select.
		case <-ctx.Done():
			return res, ctx.Err()
		}
		for deadline := renamed.Add(10 * time.Second); ; {
			s, err := c.Select(ctx, provider, apitype.SelectRequest{Strategy: string(pool.FillFirst)})
			if err == nil && s.Credential.ID == id {
				sel = append(sel, int64(time.Since(renamed)))
				break
			}
			if err != nil && !errors.Is(err, pool.ErrNoneAvailable) {
				return res, fmt.Errorf("recovery %d: select: %w", i, err)
			}
			if time.Now().After(deadline) {
				logMu.Lock()
				defer logMu.Unlock()
				return res, fmt.Errorf("recovery %d: entry %s not selectable 10 s after the rename (new token …%s; %s; last events: %s)", i, id, hint, stuckState(ctx, c, store, provider, id), strings.Join(evLog, " | "))
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	slices.Sort(sel)
	slices.Sort(evt)
	ms := func(ns int64) float64 { return stats.Round1(float64(ns)/1e5) / 10 }
	res.P50MS, res.P99MS, res.MaxMS = ms(stats.Quantile(sel, 0.5)), ms(stats.Quantile(sel, 0.99)), ms(sel[len(sel)-1])
	if len(evt) > 0 {
		res.EventP50MS, res.EventMaxMS = ms(stats.Quantile(evt, 0.5)), ms(evt[len(evt)-1])
	}
	return res, nil
}

// waitStatusOnDisk waits until auth.json shows entry id with status want
// (null counts as ok).
func waitStatusOnDisk(ctx context.Context, store *authfile.Store, provider, id string, want pool.Status) error {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if f, _, err := store.Read(); err == nil {
			for _, e := range f.Pools[provider] {
				st := e.LastStatus
				if st == "" {
					st = pool.StatusOK
				}
				if e.ID == id && st == want {
					return nil
				}
			}
		}
		sleepCtx(ctx, 2*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("status %s of %s not on disk after 5 s", want, id)
}

// hermesRetoken is another process re-authenticating: flock auth.lock, read,
// give entry id a fresh access_token (leaving its status as it was), write a
// temp file, rename it over auth.json. It returns when the rename was done.
func hermesRetoken(store *authfile.Store, provider, id string) (renamed time.Time, hint string, err error) {
	lk := flock.New(store.LockPath(), flock.SetPermissions(0o600))
	if err := lk.Lock(); err != nil {
		return renamed, "", fmt.Errorf("hermes write: lock: %w", err)
	}
	defer func() { _ = lk.Unlock() }()
	data, err := os.ReadFile(store.Path())
	if err != nil {
		return renamed, "", fmt.Errorf("hermes write: %w", err)
	}
	f, err := authfile.Parse(data)
	if err != nil {
		return renamed, "", fmt.Errorf("hermes write: %w", err)
	}
	found := false
	for i := range f.Pools[provider] {
		if e := &f.Pools[provider][i]; e.ID == id {
			tok := make([]byte, 24)
			_, _ = rand.Read(tok)
			e.AccessToken = "sk-bench-" + hex.EncodeToString(tok)
			hint = e.AccessToken[len(e.AccessToken)-4:]
			found = true
		}
	}
	if !found {
		return renamed, "", fmt.Errorf("hermes write: entry %s not in the file", id)
	}
	out, err := f.Marshal()
	if err != nil {
		return renamed, "", fmt.Errorf("hermes write: %w", err)
	}
	if renamed, err = atomicWrite(store.Path(), out); err != nil {
		return renamed, "", fmt.Errorf("hermes write: %w", err)
	}
	return renamed, hint, nil
}

// stuckState says what the daemon and the file hold for an entry that did
// not recover, by token hint (the last 4 characters, as the API shows them)
// and status.
func stuckState(ctx context.Context, c *socketapi.Client, store *authfile.Store, provider, id string) string {
	daemon, disk := "?", "?"
	if pv, err := c.Pool(ctx, provider); err == nil {
		for _, e := range pv.Entries {
			if e.ID == id {
				daemon = fmt.Sprintf("token …%s %s", apitype.Value(e.TokenHint), e.Status)
			}
		}
	}
	if f, _, err := store.Read(); err == nil {
		for _, e := range f.Pools[provider] {
			if e.ID == id {
				disk = fmt.Sprintf("token …%s %s", e.AccessToken[max(0, len(e.AccessToken)-4):], e.LastStatus)
			}
		}
	}
	return "daemon: " + daemon + "; auth.json: " + disk
}
