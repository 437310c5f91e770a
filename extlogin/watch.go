package extlogin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher defaults.
const (
	// DefaultDebounce is the window after a complete read in which further
	// events of the same file fold into one read at its end: a burst of
	// writes costs two reads, not one per write, and its last state
	// arrives well inside the 50 ms a re-login may take.
	DefaultDebounce = 5 * time.Millisecond
	// DefaultResync is the safety net: every so often each file is
	// re-stat'ed (and read if it changed) and the watches re-armed, in case
	// an event was missed or a watch could not be added.
	DefaultResync = 30 * time.Second
)

// A file that does not parse is read again after 5, 10, 20 ... 640 ms
// (1.3 s in all: far longer than any tool takes to finish a write, even on
// a loaded machine that stalls the writer) before it is reported as
// partial; each event of the file starts that anew.
const (
	partialRetryBase = 5 * time.Millisecond
	partialRetries   = 8
	partialGap       = time.Millisecond // between reads of a file being written
)

// Update is a source's new state.
//
//   - Err == nil: Login is the source's login now (it may be Broken).
//   - errors.Is(Err, ErrNotLoggedIn): the tool is logged out; Login is zero.
//   - any other Err (ErrPartial after its retries, ErrBadFile, an I/O
//     error): the file cannot be read now; Login is the last good login,
//     kept (zero if there was none), and is not to be dropped for this.
type Update struct {
	Source string
	Login  Login
	Err    error
}

// Watcher follows Sources and calls OnChange with each one's state: once
// at start, then each time its login (or its error) changes — a rewrite
// of the same tokens is no change.
type Watcher struct {
	Sources []Source
	// OnChange is called from Run's goroutine, one update at a time; it
	// should hand the update on rather than block.
	OnChange func(Update)
	// Debounce is the window after a complete read of a file in which its
	// events fold into one read at the window's end; 0 means
	// DefaultDebounce.
	Debounce time.Duration
	// Resync is the safety-net re-stat interval; 0 means DefaultResync.
	Resync time.Duration

	reads atomic.Int64 // files read, for tests that a busy directory costs nothing
}

// Run watches until ctx ends, then returns nil. It fails only when
// fsnotify cannot start or its channels close.
func (w *Watcher) Run(ctx context.Context) error {
	if w.OnChange == nil {
		return errors.New("extlogin: Watcher.OnChange is nil")
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("extlogin: watcher: %w", err)
	}
	defer fw.Close()

	r := &run{
		w:        w,
		fw:       fw,
		debounce: orDefault(w.Debounce, DefaultDebounce),
		due:      make(chan due, len(w.Sources)),
		done:     make(chan struct{}),
		srcs:     make([]state, len(w.Sources)),
	}
	defer r.stop()
	for i, src := range w.Sources {
		r.srcs[i].src = src
		r.srcs[i].target = linkTarget(src.Path)
	}
	r.rearm()
	for i := range r.srcs {
		r.schedule(i, 0)
	}
	ticker := time.NewTicker(orDefault(w.Resync, DefaultResync))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("extlogin: watcher closed")
			}
			r.event(ev)
		case _, ok := <-fw.Errors:
			if !ok {
				return errors.New("extlogin: watcher closed")
			}
			// An overflow lost events: look at everything again.
			r.rearm()
			for i := range r.srcs {
				r.schedule(i, 0)
			}
		case d := <-r.due:
			if s := &r.srcs[d.i]; s.pending && s.gen == d.gen {
				s.pending = false
				r.read(d.i)
			}
		case <-ticker.C:
			r.resync()
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// run is one Run's state; only Run's goroutine touches it.
type run struct {
	w        *Watcher
	fw       *fsnotify.Watcher
	debounce time.Duration
	due      chan due
	done     chan struct{}
	srcs     []state

	// files maps each watched file path (and a symlink's target) to the
	// sources it concerns; dirs maps a missing directory to the sources
	// waiting for it to appear; watched is the set of watched
	// directories. An event that is in none of them costs three lookups.
	files   map[string][]int
	dirs    map[string][]int
	watched map[string]bool
}

type due struct {
	i   int
	gen uint64
}

// state is one source's.
type state struct {
	src    Source
	target string // what Path links to, "" if it is no symlink
	inDir  bool   // the file's own directory is watched

	pending    bool
	gen        uint64
	dueAt      time.Time
	quietUntil time.Time // events before then fold into one read then
	timer      *time.Timer
	retries    int

	stamp   stamp // of the file as last read
	good    Login // last good login
	emitted bool
	last    string // key of the last update emitted
}

func (r *run) stop() {
	close(r.done)
	for i := range r.srcs {
		if t := r.srcs[i].timer; t != nil {
			t.Stop()
		}
	}
}

// schedule reads source i after delay, unless a read is due sooner.
func (r *run) schedule(i int, delay time.Duration) {
	s := &r.srcs[i]
	at := time.Now().Add(delay)
	if s.pending {
		if !s.dueAt.After(at) {
			return
		}
		s.timer.Stop()
	}
	s.gen++
	s.pending, s.dueAt = true, at
	d := due{i, s.gen}
	s.timer = time.AfterFunc(delay, func() {
		select {
		case r.due <- d:
		case <-r.done:
		}
	})
}

// event handles one fsnotify event. An event outside the file's quiet
// window reads it at once (a rename is complete when it is seen); events
// inside it fold into one read at the window's end. The window is Debounce
// after a complete read, and only partialGap after a partial one, so the
// write that completes an in-place rewrite is read within about a
// millisecond, without reading once per write of a slow writer.
func (r *run) event(ev fsnotify.Event) {
	for _, i := range r.files[ev.Name] {
		s := &r.srcs[i]
		// A write in progress gets the whole retry budget again: a partial
		// file is reported only once its writer has gone quiet.
		s.retries = 0
		if now := time.Now(); now.Before(s.quietUntil) {
			r.schedule(i, s.quietUntil.Sub(now))
			continue
		}
		if s.pending {
			s.timer.Stop()
			s.pending = false
			s.gen++ // a timer that already fired is ignored
		}
		r.read(i)
	}
	if ev.Has(fsnotify.Create) && r.dirs[ev.Name] != nil {
		r.rearm()
	}
	if ev.Has(fsnotify.Remove|fsnotify.Rename) && r.watched[ev.Name] {
		r.rearm()
	}
}

// rearm makes the watches match what the sources need now: each file's
// directory when it exists, else its nearest existing ancestor (to see the
// directory appear), plus the directory of a symlinked file's target. A
// source whose directory has just come under watch is read, since its
// file may have been written before the watch. After adding a watch it
// looks again, so a directory made between a look and its watch is not
// missed.
func (r *run) rearm() {
	for range 8 {
		files := make(map[string][]int)
		dirs := make(map[string][]int)
		want := make(map[string]bool)
		have := make(map[string]bool)
		for _, d := range r.fw.WatchList() {
			have[d] = true
		}
		for i := range r.srcs {
			s := &r.srcs[i]
			dir := s.src.Dir()
			if !isDir(dir) {
				s.inDir = false
				if parent, child := nearestDir(dir); parent != "" {
					want[parent] = true
					dirs[child] = append(dirs[child], i)
				}
				continue
			}
			want[dir] = true
			files[s.src.Path] = append(files[s.src.Path], i)
			if s.target != "" {
				if td := filepath.Dir(s.target); isDir(td) {
					want[td] = true
					files[s.target] = append(files[s.target], i)
				}
			}
			// A directory that was not watched a moment ago (new, or gone
			// and made again, which drops its watch) may hold a file
			// written before the watch.
			if !s.inDir || !have[dir] {
				s.inDir = true
				r.schedule(i, 0)
			}
		}
		added := false
		for d := range want {
			if !have[d] {
				// A directory that cannot be watched (gone again, no
				// permission, inotify limit) is left to the resync.
				_ = r.fw.Add(d)
				added = true
			}
		}
		for d := range have {
			if !want[d] {
				_ = r.fw.Remove(d)
			}
		}
		r.files, r.dirs, r.watched = files, dirs, want
		if !added {
			return
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// nearestDir is the nearest existing ancestor of the missing dir, and its
// child on the way to dir: the name whose creation is the next step.
func nearestDir(dir string) (parent, child string) {
	child = dir
	for {
		parent = filepath.Dir(child)
		if parent == child {
			return "", ""
		}
		if isDir(parent) {
			return parent, child
		}
		child = parent
	}
}

// linkTarget is what path, a symlink, resolves to; "" when it is none.
func linkTarget(path string) string {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return ""
	}
	t, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return t
}

// resync is the safety net: re-arm, and read every file whose stamp is not
// the one last read.
func (r *run) resync() {
	r.rearm()
	for i := range r.srcs {
		s := &r.srcs[i]
		if statPath(s.src.Path) != s.stamp {
			r.schedule(i, 0)
		}
	}
}

// read reads source i and emits its state if it changed. A partial file is
// read again after a backoff before it is reported.
func (r *run) read(i int) {
	r.w.reads.Add(1)
	s := &r.srcs[i]
	if t := linkTarget(s.src.Path); t != s.target {
		// Re-resolved on each read: Claude Code's rename replaces a link.
		s.target = t
		r.rearm()
	}
	l, _, st, err := load(s.src)
	s.stamp = st
	if errors.Is(err, ErrPartial) && s.retries < partialRetries {
		s.quietUntil = time.Now().Add(partialGap)
		r.schedule(i, partialRetryBase<<s.retries)
		s.retries++
		return
	}
	s.retries = 0
	s.quietUntil = time.Now().Add(r.debounce)

	u := Update{Source: s.src.Name}
	var key string
	switch {
	case err == nil:
		s.good, u.Login = l, l
		sum := l.sum()
		key = "L" + string(sum[:])
	case errors.Is(err, ErrNotLoggedIn):
		s.good = Login{}
		u.Err, key = err, "N"
	default:
		u.Login, u.Err, key = s.good, err, "E"+err.Error()
	}
	if s.emitted && key == s.last {
		return
	}
	s.emitted, s.last = true, key
	r.w.OnChange(u)
}
