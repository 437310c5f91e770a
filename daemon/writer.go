package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/internal/statefile"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
)

// Backoff of failed writes: a busy lock is polled briskly (Hermes holds it
// for milliseconds); anything else (a root-owned auth.lock, a full disk)
// backs off doubling to 30 s, so that a write that keeps failing is not a
// hot loop.
const (
	// urgentWriteGap paces the writes that several answers wait for: at
	// most one per write's own time plus this, each carrying every change
	// that came meanwhile. Under credpool-bench's default mix at 16
	// clients it cut writes from 537/s to 385/s and raised select
	// throughput; 3 ms cut them to 282/s but added a millisecond to every
	// report (docs/BENCHMARKS.md, "Durable answers").
	urgentWriteGap = 1 * time.Millisecond
	busyRetryFirst = 50 * time.Millisecond
	busyRetryMax   = time.Second
	errRetryFirst  = 100 * time.Millisecond
	errRetryMax    = 30 * time.Second
)

// write makes one attempt to bring the file up to date: under auth.lock
// (never waited for), read it, sync the pool with it, write what the pool
// holds that the file lacks, and credpool's own state with it.
func (l *ioLoop) write() {
	v, stateErr, err := l.d.syncWith(l.d.store.TryUpdate, l.version)
	l.lastWrite = time.Now()
	if err != nil {
		l.failed(err, stateErr)
		return
	}
	l.setVersion(v)
	l.lastStat = stampOf(l.path)
	l.retry = 0
	h := l.health()
	if h.writeErr != "" {
		l.d.log.Info("auth file written again")
	}
	h.writeErr, h.pendingSince = "", 0
	l.d.health.Store(&h)
}

// writeHeld is the same write for a caller that holds auth.lock already
// (the refresher). The io loop learns of it as of any other writer: it
// re-reads the file, and the merge finds nothing new.
func (d *Daemon) writeHeld() error {
	var seen authfile.Version
	if p := d.seen.Load(); p != nil {
		seen = *p
	}
	v, stateErr, err := d.syncWith(d.store.UpdateHeld, seen)
	if err == nil {
		d.seen.Store(&v)
	}
	if err != nil && stateErr != nil {
		d.mu.Lock()
		d.pool.StateNotSaved()
		d.mu.Unlock()
	}
	d.kickIO()
	return err
}

// syncWith is one write: update (TryUpdate, or UpdateHeld under a held
// lock) reads the file, the pool syncs with it, the state file is written
// first, then auth.json. seen is the version the caller last saw: a file
// that vanished since is not an empty pool.
func (d *Daemon) syncWith(update func(func(*authfile.File) error) (authfile.Version, error), seen authfile.Version) (authfile.Version, error, error) {
	var commit pool.Commit
	var changes []pool.Change
	var seq uint64
	var stateErr error
	v, err := update(func(f *authfile.File) error {
		// A file that vanished since we last read it is not an empty pool:
		// writing onto nothing would recreate it without everyone else's
		// entries, and loading that would drop them here.
		if seen.Exists() && !f.Version().Exists() {
			return errVanished
		}
		d.mu.Lock()
		seq = d.dur.seq
		commit, changes = d.pool.Sync(f.Snapshot())
		var st *statefile.State
		if d.pool.StateDirty() {
			st = &statefile.State{Pool: d.pool.ExportState()}
		}
		d.mu.Unlock()
		if st != nil {
			// Under auth.lock, before auth.json: a removal is remembered
			// before it is visible.
			if stateErr = statefile.Write(paths.State(d.cfg.AuthFile), *st); stateErr != nil {
				return stateErr
			}
		}
		return nil
	})
	d.mu.Lock()
	if err == nil {
		d.pool.Committed(commit)
		d.wakeLocked()
	} else if seq == 0 {
		seq = d.dur.seq // the file was never reached: every change so far failed with it
	}
	d.settledLocked(seq, err)
	d.mu.Unlock()
	if err == nil {
		d.apply(changes)
	}
	return v, stateErr, err
}

// failed records a failed write: the answers waiting for it learn why, the
// retry backs off, and health says degraded once it is more than a lock
// held for a moment.
func (l *ioLoop) failed(err, stateErr error) {
	if stateErr != nil {
		l.d.mu.Lock()
		l.d.pool.StateNotSaved() // export it again next time
		l.d.mu.Unlock()
	}
	h := l.health()
	if h.pendingSince == 0 {
		h.pendingSince = l.d.now()
	}
	busy := errors.Is(err, authfile.ErrLockBusy)
	switch {
	case errors.Is(err, authfile.ErrUnusable):
		l.d.health.Store(&h)
		l.setReadErr(err)
		return
	case errors.Is(err, errVanished):
		l.d.health.Store(&h)
		l.setReadErr(l.missingErr())
		return
	case busy:
		l.retry = min(max(l.retry*2, busyRetryFirst), busyRetryMax)
		if l.d.now()-h.pendingSince > l.d.cfg.AnswerTimeout.Seconds() {
			h.writeErr = fmt.Sprintf("waiting for %s, held by %s; changes are served and written once it is free", l.d.store.LockPath(), l.d.lockHolder())
		}
	default:
		l.retry = min(max(l.retry*2, errRetryFirst), errRetryMax)
		msg := fmt.Sprintf("write to auth file failed; retrying every %s at most: %v", errRetryMax, err)
		if h.writeErr != msg {
			l.d.log.Warn("write to auth file failed; will retry with backoff", "err", err, "retry_in", l.retry)
		}
		h.writeErr = msg
	}
	l.d.stats.writeErrors.Add(1)
	l.d.health.Store(&h)
}

// drain is the last act of a stop: it writes what is pending, retrying for
// up to the stop timeout, and names what it could not write. Only answered
// changes are worth the wait and a failed exit: batched request counts
// alone are given up at once when the file cannot be used as it is (a
// FIFO, a device, a corrupt file), and at the deadline, with a warning.
func (l *ioLoop) drain() error {
	deadline := time.Now().Add(l.d.cfg.StopTimeout)
	for {
		if !l.pending() {
			return nil
		}
		if !l.writable() {
			l.reload() // a replaced or repaired file may be back
		}
		if l.writable() {
			l.write()
			if !l.pending() {
				return nil
			}
		}
		if !l.writable() && !l.answeredPending() {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		time.Sleep(min(max(l.retry, busyRetryFirst), left))
	}
	h := l.health()
	why := h.writeErr
	if why == "" {
		why = h.readErr
	}
	if why == "" {
		why = "auth.lock stayed busy"
	}
	if !l.answeredPending() {
		l.d.log.Warn("stopping with batched request counts not on disk", "why", why)
		return nil
	}
	l.d.mu.Lock()
	lost := l.d.unwrittenLocked()
	l.d.mu.Unlock()
	l.d.log.Error("stopping with changes that are not on disk; they are lost", "lost", lost, "why", why)
	return fmt.Errorf("daemon: %w within %s: %s: %s", ErrUnwritten, l.d.cfg.StopTimeout, lost, why)
}

// answeredPending reports whether a change some answer reported is not on
// disk yet.
func (l *ioLoop) answeredPending() bool {
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	return l.d.dur.seq > l.d.dur.durable
}

// pending reports whether the file lacks anything of ours.
func (l *ioLoop) pending() bool {
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	p, _ := l.d.pool.Dirty()
	return p || l.d.pool.StateDirty()
}
