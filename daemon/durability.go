package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
)

// durability tracks which answered changes are on disk. Every change an
// answer reports takes the next sequence number (under d.mu); a write that
// syncs the pool records the number it covers. Changes that arrive while a
// write is in flight go into the next one, so one fsync serves every
// answer waiting for it (group commit).
type durability struct {
	seq     uint64 // the last change handed a number
	durable uint64 // every change up to here is on disk
	// attempted is the number the last failed write would have covered,
	// and failure why it failed.
	attempted uint64
	failure   error
	// written is closed and replaced after every write attempt.
	written chan struct{}
	// unwritten names the oldest answered changes not on disk yet (at
	// most maxUnwritten), so that a stop that loses them can say which.
	unwritten []numbered
}

// numbered is an answered change: its number and what it was.
type numbered struct {
	seq  uint64
	what string
}

// maxUnwritten bounds the names kept for a stop's log line; past it the
// line gives a count.
const maxUnwritten = 64

// changedLocked numbers a change that an answer will report; what names it
// for a log line ("dead openrouter/abc123"). Callers hold d.mu.
func (d *Daemon) changedLocked(what string) uint64 {
	d.dur.seq++
	if len(d.dur.unwritten) < maxUnwritten {
		d.dur.unwritten = append(d.dur.unwritten, numbered{d.dur.seq, what})
	}
	return d.dur.seq
}

// unwrittenLocked says which answered changes are not on disk: "2 answered
// changes (add openrouter/abc123, dead openrouter/77aa11)". Callers hold
// d.mu.
func (d *Daemon) unwrittenLocked() string {
	n := d.dur.seq - d.dur.durable
	var names []string
	for _, c := range d.dur.unwritten {
		names = append(names, c.what)
	}
	if more := n - uint64(len(names)); more > 0 {
		names = append(names, fmt.Sprintf("%d more", more))
	}
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d answered change%s (%s)", n, s, strings.Join(names, ", "))
}

// settledLocked records a write attempt that covered every change up to
// seq: on disk when err is nil. Callers hold d.mu.
func (d *Daemon) settledLocked(seq uint64, err error) {
	if err == nil {
		d.dur.durable = max(d.dur.durable, seq)
		d.dur.failure = nil
		d.dur.unwritten = slices.DeleteFunc(d.dur.unwritten, func(c numbered) bool { return c.seq <= d.dur.durable })
	} else {
		d.dur.attempted, d.dur.failure = seq, err
	}
	close(d.dur.written)
	d.dur.written = make(chan struct{})
}

// persisted waits until the change numbered seq is on disk, for up to the
// answer timeout, and says how it went. A write that failed for a reason
// time will not mend (a permission, a full disk) is answered at once; a
// busy lock is waited out until the timeout, then the change is answered
// as not persisted and written as soon as the lock is free.
func (d *Daemon) persisted(ctx context.Context, seq uint64) apitype.Persistence {
	if seq == 0 {
		return apitype.Persistence{Persisted: true}
	}
	d.kickIO()
	if h := d.health.Load(); h.readErr != "" {
		// Nothing is written while the file cannot be read; waiting
		// would not change the answer.
		return d.notPersisted(errors.New(h.readErr))
	}
	timeout := time.NewTimer(d.cfg.AnswerTimeout)
	defer timeout.Stop()
	for {
		d.mu.Lock()
		dur := d.dur
		d.mu.Unlock()
		if dur.durable >= seq {
			return apitype.Persistence{Persisted: true}
		}
		if dur.failure != nil && dur.attempted >= seq && !errors.Is(dur.failure, authfile.ErrLockBusy) {
			return d.notPersisted(dur.failure)
		}
		select {
		case <-dur.written:
		case <-timeout.C:
			return d.notPersisted(dur.failure)
		case <-ctx.Done():
			return d.notPersisted(ctx.Err())
		}
	}
}

func (d *Daemon) notPersisted(err error) apitype.Persistence {
	why := "the write has not finished yet"
	switch {
	case errors.Is(err, authfile.ErrLockBusy):
		why = d.lockHolder() + " holds " + d.store.LockPath()
	case err != nil:
		why = err.Error()
	}
	return apitype.Persistence{Persisted: false,
		PersistError: why + "; the change is served now and is written as soon as it can be"}
}

// lockHolder names who holds auth.lock: Hermes and credpool write their pid
// into it while they hold it (authfile reads it without following a
// symlink or waiting on a FIFO).
func (d *Daemon) lockHolder() string {
	if pid, ok := d.store.LockHolder(); ok {
		return fmt.Sprintf("process %d", pid)
	}
	return "another process"
}
