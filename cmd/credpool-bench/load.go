package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// worker is one client: step does one operation and says which.
type worker interface {
	step(ctx context.Context) (op string, err error)
}

// housekeeper is a worker with untimed work after a step (a pool reset
// once reports have marked half of it).
type housekeeper interface {
	housekeep(ctx context.Context)
}

// closer is a worker with something to give back at the end (leases).
type closer interface {
	close(ctx context.Context)
}

// loadResult is what one load phase measured.
type loadResult struct {
	samples  map[string]samples
	errors   map[string]int // "select_503" and "<op>_error"
	firstErr error
	window   time.Duration
	resets   int64
}

func (r *loadResult) stats() map[string]opStats {
	out := make(map[string]opStats, len(r.samples))
	for op, s := range r.samples {
		out[op] = summarize(s, r.window)
	}
	return out
}

// drive runs one worker per client for warmup+duration and records what
// started inside the measured window. With rate > 0 it is an open loop:
// client i's k-th operation is due at start + (k·clients + i)/rate, and its
// latency runs from that due time, so a slow answer that delays the next
// sends is counted against the daemon rather than hidden (no coordinated
// omission).
func drive(ctx context.Context, workers []worker, rate float64, warmup, duration time.Duration) *loadResult {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	res := &loadResult{samples: map[string]samples{}, errors: map[string]int{}, window: duration}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			local := map[string]samples{}
			errs := map[string]int{}
			var first error
			record := func(op string, err error, began time.Time) {
				lat := time.Since(began)
				if began.Before(measureFrom) {
					return
				}
				switch {
				case err == nil:
					local[op] = append(local[op], int64(lat))
				case errors.Is(err, pool.ErrNoneAvailable):
					errs[op+"_503"]++
				case ctx.Err() != nil:
				default:
					errs[op+"_error"]++
					if first == nil {
						first = err
					}
				}
			}
			hk, _ := w.(housekeeper)
			if rate > 0 {
				interval := time.Duration(float64(len(workers)) / rate * float64(time.Second))
				due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				for ; due.Before(end) && ctx.Err() == nil; due = due.Add(interval) {
					if d := time.Until(due); d > 0 {
						sleepCtx(ctx, d)
					} else if !time.Now().Before(end) {
						// Past the end and still behind: what is left was
						// never sent, which says the rate was not kept.
						errs["unsent"] += int(end.Sub(due)/interval) + 1
						break
					}
					op, err := w.step(ctx)
					record(op, err, due)
					if hk != nil {
						hk.housekeep(ctx)
					}
				}
			} else {
				for ctx.Err() == nil {
					began := time.Now()
					if !began.Before(end) {
						break
					}
					op, err := w.step(ctx)
					record(op, err, began)
					if hk != nil {
						hk.housekeep(ctx)
					}
				}
			}
			if c, ok := w.(closer); ok {
				c.close(context.WithoutCancel(ctx))
			}
			mu.Lock()
			defer mu.Unlock()
			for op, s := range local {
				res.samples[op] = append(res.samples[op], s...)
			}
			for k, n := range errs {
				res.errors[k] += n
			}
			if res.firstErr == nil {
				res.firstErr = first
			}
		})
	}
	wg.Wait()
	return res
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// resetState is shared by the clients of one provider: once reports have
// marked about half the pool, one client resets it so that selects keep
// succeeding.
type resetState struct {
	marked    atomic.Int64
	threshold int64
	resets    *atomic.Int64
}

// maxHeldLeases bounds the leases one client holds at once.
const maxHeldLeases = 8

// daemonWorker is an agent: it selects (with a lease now and then when
// releases are in the mix), reports on what it selected and releases its
// leases.
type daemonWorker struct {
	c        *socketapi.Client
	provider string
	rng      *rand.Rand
	mix      mix
	total    int
	pLease   float64
	leases   []string
	lastCred string
	reports  int
	reset    *resetState
	doReset  bool
}

var reportKinds = []struct {
	code   int
	reason string
}{{429, "rate_limit_exceeded"}, {402, "insufficient_quota"}, {401, "token_invalidated"}}

func newDaemonWorker(c *socketapi.Client, provider string, m mix, seed uint64, rs *resetState) *daemonWorker {
	w := &daemonWorker{c: c, provider: provider, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), mix: m, total: m.total(), reset: rs}
	// Ask for leases about as often as they are given back, so that the
	// number held stays level.
	if back := m[opRelease] + m[opReport]; m[opRelease] > 0 {
		w.pLease = min(1, float64(back)/float64(m[opSelect]))
	}
	return w
}

func (w *daemonWorker) pick() string {
	n := w.rng.IntN(w.total)
	for _, op := range mixOps {
		if n < w.mix[op] {
			return op
		}
		n -= w.mix[op]
	}
	return opSelect
}

func (w *daemonWorker) step(ctx context.Context) (string, error) {
	op := w.pick()
	switch {
	case op == opReport && w.lastCred == "" && len(w.leases) == 0,
		op == opRelease && len(w.leases) == 0:
		// Nothing to act on yet: select first, as an agent would.
		return opSelect, w.sel(ctx, op == opRelease)
	case op == opReport:
		return opReport, w.report(ctx)
	case op == opRelease:
		id := w.leases[0]
		w.leases = w.leases[1:]
		return opRelease, w.c.Release(ctx, id)
	}
	lease := w.pLease > 0 && len(w.leases) < maxHeldLeases && w.rng.Float64() < w.pLease
	return opSelect, w.sel(ctx, lease)
}

func (w *daemonWorker) sel(ctx context.Context, lease bool) error {
	resp, err := w.c.Select(ctx, w.provider, apitype.SelectRequest{Lease: lease})
	if err != nil {
		return err
	}
	w.lastCred = resp.Credential.ID
	if resp.Lease != nil {
		w.leases = append(w.leases, resp.Lease.ID)
	}
	return nil
}

func (w *daemonWorker) report(ctx context.Context) error {
	k := reportKinds[w.reports%len(reportKinds)]
	w.reports++
	req := apitype.ReportRequest{StatusCode: k.code, Reason: k.reason, Message: "credpool-bench"}
	if len(w.leases) > 0 {
		req.LeaseID = w.leases[0]
		w.leases = w.leases[1:]
	} else {
		req.CredentialID = w.lastCred
	}
	resp, err := w.c.Report(ctx, w.provider, req)
	if err != nil {
		return err
	}
	if resp.Marked != nil && w.reset.marked.Add(1) >= w.reset.threshold {
		w.doReset = true
	}
	return nil
}

func (w *daemonWorker) housekeep(ctx context.Context) {
	if !w.doReset {
		return
	}
	w.doReset = false
	if n := w.reset.marked.Load(); n < w.reset.threshold || !w.reset.marked.CompareAndSwap(n, 0) {
		return
	}
	if _, err := w.c.Reset(ctx, w.provider, ""); err == nil {
		w.reset.resets.Add(1)
	}
}

func (w *daemonWorker) close(ctx context.Context) {
	for _, id := range w.leases {
		_ = w.c.Release(ctx, id)
	}
	w.leases = nil
	w.c.Close()
}
