package authfile

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// Lock defaults (DESIGN §2).
const (
	DefaultLockTimeout = 15 * time.Second
	lockPoll           = 50 * time.Millisecond
	lockFileName       = "auth.lock"
)

// Store is auth.json at one path, with its auth.lock. It holds no state
// between calls; every Update reads what is on disk at that moment.
type Store struct {
	path     string
	lockPath string

	// LockTimeout is how long Lock waits for auth.lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
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

// Read parses auth.json without taking the lock: writers replace the file
// atomically, so a reader sees either the old or the new document. A missing
// file is an empty document with nil data. The raw bytes are returned even
// when they do not parse, so the caller can tell whether the file changed;
// the File and its entries' strings share them, so they must not be
// modified.
func (s *Store) Read() (*File, []byte, error) {
	return s.ReadUnless(nil)
}

// ReadUnless is Read that does not parse bytes the caller already has:
// when known(data) is true it returns a nil File with the data. A watcher
// that re-reads the file after each of its own writes saves a parse (the
// most memory and time a read takes) per write.
func (s *Store) ReadUnless(known func(data []byte) bool) (*File, []byte, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("authfile: read: %w", err)
	}
	if known != nil && known(data) {
		return nil, data, nil
	}
	f, err := s.parse(data)
	return f, data, err
}

func (s *Store) parse(data []byte) (*File, error) {
	f, err := parseOwned(data)
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.Path = s.path
	}
	return f, err
}

// Update is the read-modify-write of DESIGN §2: lock, read what is on disk
// now, let fn change it, write it if it changed (stamping updated_at), and
// unlock. It returns the SHA-256 of the bytes on disk afterwards, written or
// not (of no bytes when there is still no file): what a caller needs to
// know a later read of its own write. A file that does not parse is never
// written over and fn is not called; an error from fn writes nothing and is
// returned as it is.
func (s *Store) Update(ctx context.Context, fn func(*File) error) (sum [sha256.Size]byte, err error) {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return sum, err
	}
	defer unlock()

	data, err := os.ReadFile(s.path)
	var f *File
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, data = New(), nil
	case err != nil:
		return sum, fmt.Errorf("authfile: read: %w", err)
	default:
		if f, err = s.parse(data); err != nil {
			return sum, err
		}
	}

	if err := fn(f); err != nil {
		return sum, err
	}
	// Most calls change a few counters of a large file, or nothing: telling
	// that from the parsed values is far cheaper than marshalling the
	// document to compare.
	if !f.changed() {
		return sha256.Sum256(data), nil
	}
	f.setUpdatedAt(s.now())
	// Marshalled straight into the temp file, hashed and compared with the
	// document as parsed on the way: the output was the largest allocation
	// an update made. Changed values that are written as they were leave
	// the file alone, updated_at included.
	h := sha256.New()
	written, err := s.write(func(w io.Writer) (bool, error) { return f.marshalTo(w, h) })
	if err != nil {
		return sum, err
	}
	if !written {
		return sha256.Sum256(data), nil
	}
	h.Sum(sum[:0])
	if err := unlock(); err != nil {
		return sum, err
	}
	return sum, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Lock takes auth.lock exclusively, polling every 50 ms until LockTimeout
// (ErrLockTimeout) or ctx ends. The lock file is created if missing and never
// removed: removing it would let two writers lock two different files. The
// returned unlock may be called more than once.
func (s *Store) Lock(ctx context.Context) (unlock func() error, err error) {
	ensureDir(filepath.Dir(s.lockPath))
	timeout := s.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	fl := flock.New(s.lockPath, flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(tctx, lockPoll)
	if ok {
		done := false
		return func() error {
			if done {
				return nil
			}
			done = true
			if err := fl.Unlock(); err != nil {
				return fmt.Errorf("authfile: unlock %s: %w", s.lockPath, err)
			}
			return nil
		}, nil
	}
	_ = fl.Close()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, ctx.Err())
	case tctx.Err() != nil:
		return nil, fmt.Errorf("%w %s after %s", ErrLockTimeout, s.lockPath, timeout)
	case err != nil:
		return nil, fmt.Errorf("authfile: lock %s: %w", s.lockPath, err)
	}
	return nil, fmt.Errorf("authfile: lock %s: not acquired", s.lockPath)
}

// ensureDir creates dir 0700 if it is missing, and narrows it to 0700 if it
// is ours (DESIGN §2). A refused chmod is not an error: the directory may be
// shared on purpose, and the file itself is 0600 anyway. The home directory
// itself is never narrowed.
func ensureDir(dir string) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		_ = os.MkdirAll(dir, 0o700)
		return
	}
	if err != nil || !fi.IsDir() || fi.Mode().Perm() == 0o700 {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return
	}
	if home, err := os.UserHomeDir(); err == nil && sameDir(home, dir) {
		return
	}
	_ = os.Chmod(dir, 0o700)
}

func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// write replaces auth.json atomically with what render writes: temp file
// in the target's directory, 0600, fsync, rename, fsync of the directory. A
// symlinked auth.json keeps its link; the target is replaced. When render
// returns false (nothing to change) or an error (returned as it is), the
// temp file is removed and auth.json left as it is; write reports whether
// it replaced it.
func (s *Store) write(render func(io.Writer) (bool, error)) (written bool, err error) {
	target, err := resolve(s.path)
	if err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	dir := filepath.Dir(target)
	ensureDir(dir)
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, writeBuffer)
	keep, err := render(bw)
	if err != nil || !keep {
		return false, err
	}
	if err := bw.Flush(); err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return false, fmt.Errorf("authfile: write: %w", err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return true, fmt.Errorf("authfile: write: sync directory: %w", err)
	}
	return true, nil
}

// writeBuffer is the temp file's write buffer: large enough that a
// multi-megabyte document takes few write calls.
const writeBuffer = 64 << 10

// resolve follows symlinks from path to the file that holds the data, even
// when that file does not exist yet (a dangling link is written through).
func resolve(path string) (string, error) {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
