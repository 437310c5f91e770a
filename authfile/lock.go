package authfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/credpool/credpool/internal/regularfile"
)

// auth.lock is locked the way Hermes locks it: flock(LOCK_EX) on the file,
// which is created if missing and never removed (removing it would let two
// writers lock two different files). Like Hermes, the holder writes its
// PID into it and empties it on release, so that a person looking at a
// stuck lock can see who holds it.
//
// The lock is taken by hand on a descriptor rather than with gofrs/flock,
// which cannot refuse to follow a symlink: auth.lock is opened O_NOFOLLOW
// (a link planted there would make us create or truncate its target) and
// must be a regular file.

// Lock takes auth.lock exclusively, polling after 1 ms, doubling to every
// 50 ms, until LockTimeout (ErrLockTimeout) or ctx ends: Hermes and the
// daemon's own writer hold it for milliseconds, and a waiter (the
// refresher, with agents waiting for its refresh) should not sleep 50 ms
// for a lock freed after one. The returned unlock may be called more than
// once. A loop that must never stall uses TryLock.
func (s *Store) Lock(ctx context.Context) (unlock func() error, err error) {
	timeout := s.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, err)
	}
	lf, err := s.openLock()
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTimer(lockPollFirst)
	defer poll.Stop()
	for wait := lockPollFirst; ; wait = min(wait*2, lockPoll) {
		unlock, err := s.claim(lf)
		if !errors.Is(err, ErrLockBusy) {
			if err != nil {
				_ = lf.Close()
			}
			return unlock, err
		}
		select {
		case <-ctx.Done():
			_ = lf.Close()
			return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, ctx.Err())
		case <-deadline.C:
			_ = lf.Close()
			return nil, fmt.Errorf("%w %s after %s", ErrLockTimeout, s.lockPath, timeout)
		case <-poll.C:
			poll.Reset(wait)
		}
	}
}

// TryLock takes auth.lock if it is free and returns ErrLockBusy at once if
// another process holds it.
func (s *Store) TryLock() (unlock func() error, err error) {
	lf, err := s.openLock()
	if err != nil {
		return nil, err
	}
	unlock, err = s.claim(lf)
	if err != nil {
		_ = lf.Close()
	}
	return unlock, err
}

// openLock opens (creating, 0600) auth.lock in the auth directory,
// creating that directory if it is missing.
func (s *Store) openLock() (*os.File, error) {
	ensureDir(filepath.Dir(s.lockPath))
	f, err := regularfile.Open(s.lockPath, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("authfile: lock %s: it is a symlink, which is never followed: %w", s.lockPath, ErrNotRegular)
	}
	if err != nil {
		return nil, fromRegular(err, "lock")
	}
	return f, nil
}

// claim tries once to flock lf; on success it writes our PID into it and
// returns the unlock, which empties the file, unlocks and closes it.
func (s *Store) claim(lf *os.File) (func() error, error) {
	fd := int(lf.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	for errors.Is(err, unix.EINTR) {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, ErrLockBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, err)
	}
	// The PID is for people; a failure to write it (a full disk) does not
	// make the lock any less held.
	if unix.Ftruncate(fd, 0) == nil {
		_, _ = unix.Pwrite(fd, []byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		_ = unix.Ftruncate(fd, 0)
		err := unix.Flock(fd, unix.LOCK_UN)
		if cerr := lf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("authfile: unlock %s: %w", s.lockPath, err)
		}
		return nil
	}, nil
}

// LockHolder is the PID that the holder of auth.lock wrote into it, as
// Hermes and credpool do ("PID\n"), for a message that says who holds the
// lock; ok is false when no one says (a free lock is empty) or the file
// is not one to read: it is opened as the lock is, never following a
// symlink and never blocking on a FIFO, and never created. Only a short
// read is made: a PID is a few digits.
func (s *Store) LockHolder() (pid int, ok bool) {
	f, err := regularfile.Open(s.lockPath, unix.O_RDONLY|unix.O_NOFOLLOW)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	b := make([]byte, 24)
	n, _ := io.ReadFull(f, b)
	pid, err = strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}
