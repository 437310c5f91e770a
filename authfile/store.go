package authfile

import (
	"context"
	"crypto/sha256"
	"io"
	"path/filepath"
	"time"
)

// Defaults (DESIGN §2).
const (
	DefaultLockTimeout = 15 * time.Second
	// DefaultMaxSize is the largest auth.json a Store reads: some 120,000
	// entries, far beyond any real pool, and small enough that a runaway
	// file cannot take the daemon's memory with it.
	DefaultMaxSize = 64 << 20
	// MaxSizeLimit is the largest MaxSize that counts: the parser keeps
	// offsets in int32 (maxDoc), so a file above it is ErrTooLarge
	// whatever MaxSize says, never a parse of a file it cannot hold.
	MaxSizeLimit  = maxDoc
	lockPollFirst = time.Millisecond
	lockPoll      = 50 * time.Millisecond
	lockFileName  = "auth.lock"
)

// Store is auth.json at one path, with its auth.lock. It holds no state
// between calls; every Update reads what is on disk at that moment.
type Store struct {
	path     string
	lockPath string

	// LockTimeout is how long Lock waits for auth.lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxSize is the largest file read, in bytes; 0 means DefaultMaxSize,
	// and a larger value than MaxSizeLimit means MaxSizeLimit.
	MaxSize int64
	// Now stamps updated_at; nil means time.Now.
	Now func() time.Time
}

// NewStore returns the store for the auth.json at path. The lock is
// auth.lock in the directory of path as given (not of a symlink's target):
// that is the file Hermes locks.
func NewStore(path string) *Store {
	return &Store{path: path, lockPath: filepath.Join(filepath.Dir(path), lockFileName)}
}

// Path is the auth.json path as given.
func (s *Store) Path() string { return s.path }

// LockPath is the auth.lock path.
func (s *Store) LockPath() string { return s.lockPath }

// Update is the read-modify-write of DESIGN §2: lock (waiting as Lock
// does), read what is on disk now, let fn change it, write it if it
// changed (stamping updated_at), and unlock. It returns the Version on
// disk afterwards, written or not (the zero Version when there is still no
// file): what a caller needs to know a later read of its own write. A file
// that cannot be used (ErrUnusable) is never written over and fn is not
// called; an error from fn writes nothing and is returned as it is. With
// an error the Version is the zero Version, but for a failed unlock after
// a write, which returns the Version written.
func (s *Store) Update(ctx context.Context, fn func(*File) error) (Version, error) {
	return s.update(func() (func() error, error) { return s.Lock(ctx) }, fn)
}

// TryUpdate is Update that does not wait for the lock: while another
// process holds auth.lock it returns ErrLockBusy at once, having read and
// written nothing. It is for a loop that must never stall.
func (s *Store) TryUpdate(fn func(*File) error) (Version, error) {
	return s.update(s.TryLock, fn)
}

// UpdateHeld is Update for a caller that already holds auth.lock (from
// Lock): a refresh holds it across re-read, POST and write-back, as
// Hermes does, so that no other process spends the same refresh token.
func (s *Store) UpdateHeld(fn func(*File) error) (Version, error) {
	return s.update(func() (func() error, error) { return func() error { return nil }, nil }, fn)
}

func (s *Store) update(lock func() (func() error, error), fn func(*File) error) (Version, error) {
	unlock, err := lock()
	if err != nil {
		return Version{}, err
	}
	defer func() { _ = unlock() }()

	f, _, err := s.read(Version{})
	if err != nil {
		return Version{}, err
	}
	if err := fn(f); err != nil {
		return Version{}, err
	}
	if !f.changed() {
		return f.Version(), nil
	}
	f.setUpdatedAt(s.now())
	// Marshalled straight into the temp file and hashed on the way: the
	// output was the largest allocation an update made.
	h := sha256.New()
	if err := s.write(func(w io.Writer) error { return f.marshalTo(w, h) }); err != nil {
		return Version{}, err
	}
	var v Version
	h.Sum(v.sum[:0])
	if err := unlock(); err != nil {
		return v, err
	}
	return v, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
