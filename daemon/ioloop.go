package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// ioLoop is the one goroutine that touches auth.json: reloads and writes are
// serialised here, so a reload can never interleave with a write of ours and
// flap an entry's status in memory.
type ioLoop struct {
	d    *Daemon
	path string // auth.json as configured (may be a symlink)
	dir  string

	lastSum [32]byte
	// haveSum: we have read or written the file, so it existed; if it
	// vanishes we keep the last good state.
	haveSum  bool
	lastStat fileStamp // for the ticker's safety-net re-stat
	watching bool      // the directory itself is watched

	lastWrite time.Time
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
	path := d.cfg.AuthFile
	return &ioLoop{d: d, path: path, dir: filepath.Dir(path)}
}

// initialLoad reads auth.json before the socket opens. A corrupt file is not
// fatal: the daemon starts degraded with an empty pool and waits for a good
// file, because refusing to start would leave agents with no daemon at all.
func (l *ioLoop) initialLoad() error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("daemon: auth dir: %w", err)
	}
	// A writer killed mid-write leaves its temp file, a copy of every token.
	ctx, cancel := context.WithTimeout(context.Background(), l.d.cfg.LockTimeout)
	defer cancel()
	if n, err := l.d.store.RemoveStaleTemps(ctx); err != nil {
		l.d.log.Warn("could not remove stale temp files beside the auth file", "err", err)
	} else if n > 0 {
		l.d.log.Info("removed temp files left by an interrupted write", "count", n)
	}
	l.reload()
	return nil
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
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	wake := time.NewTimer(time.Hour)
	wake.Stop()
	flushT := time.NewTimer(time.Hour)
	flushT.Stop()
	defer debounce.Stop()
	defer wake.Stop()
	defer flushT.Stop()

	parent := filepath.Dir(l.dir)
	name := filepath.Base(l.path)
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
			switch {
			case filepath.Dir(ev.Name) == l.dir && filepath.Base(ev.Name) == name:
				debounce.Reset(l.d.cfg.Debounce)
			case ev.Name == l.dir && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0:
				l.watching = false
			case filepath.Dir(ev.Name) == parent && ev.Name == l.dir && ev.Op&fsnotify.Create != 0:
				l.watch(w)
				debounce.Reset(l.d.cfg.Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("daemon: watcher closed")
			}
			// Queue overflow and the like: we may have missed an event, so
			// look at the file again.
			l.d.log.Warn("file watcher error; re-reading auth file", "err", err)
			debounce.Reset(l.d.cfg.Debounce)
		case <-debounce.C:
			l.reload()
		case <-ticker.C:
			if !l.watching {
				l.watch(w)
			}
			if st := stampOf(l.path); st != l.lastStat {
				l.reload()
			}
			l.tickPool()
		case <-wake.C:
			l.tickPool()
		case <-flushT.C:
			l.d.flushArmed.Store(false)
			if err := l.flush(ctx); err != nil {
				l.d.log.Warn("write to auth file failed; will retry", "err", err)
			}
		case <-l.d.kick:
		}

		// After anything: write urgent changes now, batch the rest, and
		// re-arm the wake-up for the next cooldown end.
		l.d.mu.Lock()
		pending, urgent := l.d.pool.Dirty()
		next := l.d.pool.NextWake()
		l.d.mu.Unlock()
		if urgent {
			if err := l.flush(ctx); err != nil {
				l.d.log.Warn("write to auth file failed; will retry", "err", err)
				urgent = false
				pending = true
			}
		}
		if pending && !urgent && !l.d.flushArmed.Load() {
			wait := l.d.cfg.FlushInterval - time.Since(l.lastWrite)
			if wait < 0 {
				wait = 0
			}
			// A failed write is retried on the tick, not in a hot loop.
			if l.health().degraded {
				wait = l.d.cfg.Tick
			}
			flushT.Reset(wait)
			l.d.flushArmed.Store(true)
		}
		if next > 0 {
			d := time.Duration((next - l.d.now()) * float64(time.Second))
			if d < 0 {
				d = 0
			}
			wake.Reset(d + time.Millisecond)
		} else {
			wake.Stop()
		}
	}
}

var errVanished = errors.New("auth file vanished")

var noFile = sha256.Sum256(nil)

func (l *ioLoop) missingErr() error {
	return fmt.Errorf("auth file %s is missing; serving the last good state until it is back", l.path)
}

func (l *ioLoop) health() healthState { return *l.d.health.Load() }

// watch watches the auth directory (editors and atomic writers replace the
// file's inode, so a watch on the file would go stale) and its parent, to
// notice the directory itself being re-created.
func (l *ioLoop) watch(w *fsnotify.Watcher) {
	_ = w.Add(filepath.Dir(l.dir))
	if err := w.Add(l.dir); err != nil {
		l.watching = false
		return
	}
	l.watching = true
}

func (l *ioLoop) tickPool() {
	l.d.mu.Lock()
	changes := l.d.pool.Tick()
	if len(changes) > 0 {
		l.d.wakeLocked()
	}
	l.d.mu.Unlock()
	l.d.apply(changes)
}

// reload reads auth.json and reconciles the pool with it, unless the bytes
// are the ones we wrote last.
func (l *ioLoop) reload() {
	l.lastStat = stampOf(l.path)
	// Bytes we wrote ourselves need no parse: the pool already holds them.
	var sum [32]byte
	f, data, err := l.d.store.ReadUnless(func(b []byte) bool {
		sum = sha256.Sum256(b)
		return l.haveSum && sum == l.lastSum
	})
	if err != nil {
		l.setDegraded(err)
		return
	}
	if data == nil {
		if l.haveSum {
			// Someone may be replacing the file; recreating it from memory
			// could undo their change, so wait for it to reappear.
			l.setDegraded(l.missingErr())
		}
		return
	}
	if f == nil {
		l.setHealthy(false)
		return
	}
	l.lastSum, l.haveSum = sum, true
	l.d.mu.Lock()
	changes := l.d.pool.Load(f.Snapshot())
	l.d.wakeLocked()
	l.d.mu.Unlock()
	l.d.apply(changes)
	l.d.stats.reloads.Add(1)
	l.setHealthy(true)
	l.d.hub.publish(socketapi.Event{Type: "file.reloaded", At: l.d.now()})
}

func (l *ioLoop) setDegraded(err error) {
	prev := l.health()
	msg := err.Error()
	l.d.health.Store(&healthState{degraded: true, lastError: msg, lastReloadAt: prev.lastReloadAt})
	l.d.stats.reloadErrors.Add(1)
	if prev.lastError != msg {
		l.d.log.Error("auth file unusable; serving the last good state", "err", err)
		l.d.hub.publish(socketapi.Event{Type: "file.error", At: l.d.now(), Message: msg})
	}
}

func (l *ioLoop) setHealthy(reloaded bool) {
	prev := l.health()
	h := healthState{lastReloadAt: prev.lastReloadAt}
	if reloaded {
		h.lastReloadAt = l.d.now()
	}
	if prev.degraded {
		l.d.log.Info("auth file readable again")
	}
	l.d.health.Store(&h)
}

// flush writes this process's pending changes through authfile.Update: lock,
// re-read, apply our patches to what is on disk now, write. Writes wait while
// the file is unusable: we never write over a file we cannot parse.
func (l *ioLoop) flush(ctx context.Context) error {
	if l.health().degraded {
		return nil
	}
	l.d.mu.Lock()
	if pending, _ := l.d.pool.Dirty(); !pending {
		l.d.mu.Unlock()
		return nil
	}
	l.d.mu.Unlock()

	var commit pool.Commit
	var changes []pool.Change
	sum, err := l.d.store.Update(ctx, func(f *authfile.File) error {
		// A file that vanished since we last read it is not an empty pool:
		// writing onto nothing would recreate it without everyone else's
		// entries, and loading that would drop them here.
		if l.haveSum && !f.OnDisk() {
			return errVanished
		}
		l.d.mu.Lock()
		commit, changes = l.d.pool.Sync(f.Snapshot())
		l.d.mu.Unlock()
		return nil
	})
	l.lastWrite = time.Now()
	if err != nil {
		switch {
		case errors.Is(err, authfile.ErrCorrupt):
			l.setDegraded(err)
		case errors.Is(err, errVanished):
			l.setDegraded(l.missingErr())
			return nil
		}
		return fmt.Errorf("daemon: write: %w", err)
	}
	// Update hashes no bytes when there is still no file: nothing was read
	// or written, so nothing is known to exist.
	if sum != noFile {
		l.lastSum, l.haveSum = sum, true
	}
	l.lastStat = stampOf(l.path)
	l.d.mu.Lock()
	l.d.pool.Committed(commit)
	l.d.wakeLocked()
	l.d.mu.Unlock()
	l.d.apply(changes)
	return nil
}
