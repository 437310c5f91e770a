package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/internal/statefile"
	"github.com/credpool/credpool/paths"
)

// ioLoop reloads and writes auth.json: serialised here, so a reload can
// never interleave with a write of its own (the refresher's write of a new
// pair, under a held auth.lock, is the only other one; the io loop reads it
// back as another writer's). It
// never waits for auth.lock: a write that finds the lock busy is retried
// later, and meanwhile reloads, ticks and waking waiting selects go on.
type ioLoop struct {
	d    *Daemon
	path string // auth.json as configured (may be a symlink)
	dir  string

	// version is what this process last read or wrote of the file; its
	// zero value means it has never seen one. A vanished file after it had
	// one is a replacement in progress, not an empty pool.
	version  authfile.Version
	lastStat fileStamp // for the ticker's safety-net re-stat
	watching bool      // the directory itself is watched

	lastWrite time.Time
	// writeDue is when the next write attempt is due (zero: none armed);
	// retry is the backoff after a failed one.
	writeDue time.Time
	retry    time.Duration
	// tempsLeft: temp files of a killed write may remain (the lock was busy
	// when we looked).
	tempsLeft bool
}

type fileStamp struct {
	ok    bool
	size  int64
	mtime int64 // ns
	ino   uint64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{ok: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

func newIOLoop(d *Daemon) *ioLoop {
	path := filepath.Clean(d.cfg.AuthFile)
	return &ioLoop{d: d, path: path, dir: filepath.Dir(path)}
}

// start reads auth.json and credpool's own state before the socket opens.
// A corrupt file is not fatal: the daemon starts degraded with an empty
// pool and waits for a good file, because refusing to start would leave
// agents with no daemon at all. Nothing here waits for auth.lock.
func (l *ioLoop) start() error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("daemon: auth dir: %w", err)
	}
	st, err := statefile.Load(paths.State(l.path))
	if err != nil {
		l.d.log.Warn("credpool's state file was unusable", "err", err)
	}
	l.d.pool.ImportState(st.Pool)
	l.removeTemps()
	l.reload()
	return nil
}

// removeTemps removes temp files that a write killed mid-way left beside
// auth.json (each a copy of every token), when auth.lock is free; else it
// tries again on the next tick.
func (l *ioLoop) removeTemps() {
	n, err := l.d.store.RemoveStaleTemps()
	switch {
	case errors.Is(err, authfile.ErrLockBusy):
		l.tempsLeft = true
	case err != nil:
		l.tempsLeft = false
		l.d.log.Warn("could not remove stale temp files beside the auth file", "err", err)
	default:
		l.tempsLeft = false
		if n > 0 {
			l.d.log.Info("removed temp files left by an interrupted write", "count", n)
		}
	}
}

func (l *ioLoop) run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("daemon: watcher: %w", err)
	}
	defer w.Close()
	l.watch(w)

	ticker := time.NewTicker(l.d.cfg.Tick)
	defer ticker.Stop()
	debounce := stoppedTimer()
	wake := stoppedTimer()
	writeT := stoppedTimer()
	defer debounce.Stop()
	defer wake.Stop()
	defer writeT.Stop()

	// Overdue prunes and ended cooldowns are settled at once, not a tick later.
	l.tickPool()
	l.d.kickIO()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("daemon: watcher closed")
			}
			if !l.concerns(w, ev) {
				continue // not our file: no work at all (a busy ~ must not spin us)
			}
			debounce.Reset(l.d.cfg.Debounce)
			continue
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("daemon: watcher closed")
			}
			// Queue overflow and the like: we may have missed an event, so
			// look at the file again.
			l.d.log.Warn("file watcher error; re-reading auth file", "err", err)
			debounce.Reset(l.d.cfg.Debounce)
			continue
		case <-debounce.C:
			l.reload()
		case <-ticker.C:
			if !l.watching {
				l.watch(w)
			}
			if st := stampOf(l.path); st != l.lastStat {
				l.reload()
			}
			if l.tempsLeft {
				l.removeTemps()
			}
			l.tickPool()
		case <-wake.C:
			l.tickPool()
		case <-writeT.C:
			l.writeDue = time.Time{}
			l.d.writeArmed.Store(false)
		case <-l.d.kick:
		}
		l.afterward(writeT, wake)
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// afterward runs after anything that may have changed state: it writes
// what is due, arms the timer for what is not, and re-arms the wake-up for
// the next cooldown end.
func (l *ioLoop) afterward(writeT, wake *time.Timer) {
	l.d.mu.Lock()
	pending, urgent := l.d.pool.Dirty()
	pending = pending || l.d.pool.StateDirty()
	waiting := l.d.dur.seq - l.d.dur.durable
	l.d.mu.Unlock()
	if pending {
		now := time.Now()
		// An urgent change (one an answer waits for) is written at once.
		// When several answers wait, not sooner than urgentWriteGap after
		// the last write ended: the changes that come meanwhile share the
		// next write's fsync (group commit). A lone answer never waits.
		due := now
		if waiting > 1 {
			due = l.lastWrite.Add(urgentWriteGap)
		}
		if !urgent {
			due = l.lastWrite.Add(l.d.cfg.FlushInterval)
		}
		if l.retry > 0 {
			due = maxTime(due, l.lastWrite.Add(l.retry))
		}
		if !due.After(now) && l.writable() {
			l.write()
			pending = l.pending()
			due = l.lastWrite.Add(l.d.cfg.FlushInterval) // what came during the write
			if l.retry > 0 {
				due = l.lastWrite.Add(l.retry)
			}
		}
		if pending && l.writable() && (l.writeDue.IsZero() || due.Before(l.writeDue)) {
			l.writeDue = due
			writeT.Reset(time.Until(due))
			l.d.writeArmed.Store(true)
		}
	}
	l.d.mu.Lock()
	next := l.d.pool.NextWake()
	l.d.mu.Unlock()
	if next > 0 {
		wake.Reset(time.Duration(max(0, epoch.Until(next, l.d.cfg.Pool.Now()))*float64(time.Second)) + time.Millisecond)
	} else {
		wake.Stop()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// writable: writes wait while the file is unusable, since we never write
// over a file we cannot parse; a reload that succeeds lifts it.
func (l *ioLoop) writable() bool { return l.health().readErr == "" }

func (l *ioLoop) health() healthState { return *l.d.health.Load() }

func (l *ioLoop) tickPool() {
	l.d.mu.Lock()
	changes := l.d.pool.Tick()
	if len(changes) > 0 {
		l.d.wakeLocked()
	}
	l.d.mu.Unlock()
	l.d.apply(changes)
	// Expiry is measured on the pool's clock, which the refresher's timer
	// does not follow (a suspended laptop, an injected clock): every tick
	// also has it look.
	l.d.refresher.now()
}

var errVanished = errors.New("auth file vanished")

// setVersion records the version the io loop last read or wrote.
func (l *ioLoop) setVersion(v authfile.Version) {
	l.version = v
	l.d.seen.Store(&v)
}

func (l *ioLoop) missingErr() error {
	return fmt.Errorf("auth file %s is missing; serving the last good state until it is back", l.path)
}

// reload reads auth.json and reconciles the pool with it, unless the bytes
// are the ones we wrote last.
func (l *ioLoop) reload() {
	l.lastStat = stampOf(l.path)
	f, v, err := l.d.store.ReadUnless(l.version)
	if err != nil {
		l.setReadErr(err)
		return
	}
	if !v.Exists() {
		if l.version.Exists() {
			// Someone may be replacing the file; recreating it from memory
			// could undo their change, so wait for it to reappear.
			l.setReadErr(l.missingErr())
		}
		return
	}
	l.setVersion(v)
	if f == nil { // our own write
		l.setReadErr(nil)
		return
	}
	l.d.mu.Lock()
	changes := l.d.pool.Load(f.Snapshot())
	l.d.wakeLocked()
	l.d.mu.Unlock()
	l.d.apply(changes)
	// New tokens may be due already (a login that is about to expire).
	l.d.refresher.now()
	l.d.stats.reloads.Add(1)
	l.setReadErr(nil)
	h := l.health()
	h.lastReloadAt = l.d.now()
	l.d.health.Store(&h)
	l.d.hub.publish(apitype.Event{Type: "file.reloaded", At: l.d.now()})
}

// setReadErr records whether the file can be read as it is (nil: yes).
func (l *ioLoop) setReadErr(err error) {
	prev := l.health()
	h := prev
	if err == nil {
		h.readErr = ""
		if prev.readErr != "" {
			l.d.log.Info("auth file readable again")
		}
		l.d.health.Store(&h)
		return
	}
	h.readErr = err.Error()
	l.d.health.Store(&h)
	l.d.stats.reloadErrors.Add(1)
	if prev.readErr != h.readErr {
		l.d.log.Error("auth file unusable; serving the last good state", "err", err)
		l.d.hub.publish(apitype.Event{Type: "file.error", At: l.d.now(), Message: h.readErr})
	}
}

func (d *Daemon) now() float64 { return epoch.Seconds(d.cfg.Pool.Now()) }
