package authfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Read parses auth.json without taking the lock: writers replace the file
// atomically, so a reader sees either the old or the new document. A
// missing file is New() with the zero Version. The Version is returned
// with a *CorruptError too (the bytes were read), so that a caller can
// tell whether a broken file changed; it is the zero Version with any
// other error. The File and its entries' strings share the bytes read.
func (s *Store) Read() (*File, Version, error) {
	return s.read(Version{})
}

// ReadUnless is Read that does not parse bytes the caller already has:
// when the file on disk is the known Version it returns a nil File with
// that Version. A watcher that re-reads the file after each of its own
// writes saves a parse (the most memory and time a read takes) per write.
// The zero Version is known to nobody: a missing file is always New().
func (s *Store) ReadUnless(known Version) (*File, Version, error) {
	return s.read(known)
}

func (s *Store) read(known Version) (*File, Version, error) {
	data, found, err := s.readFile()
	if err != nil || !found {
		if err == nil {
			return New(), Version{}, nil
		}
		return nil, Version{}, err
	}
	v := versionOf(data)
	if known.Exists() && v == known {
		return nil, v, nil
	}
	f, err := parseOwned(data)
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.Path = s.path
		return nil, v, err
	}
	if err != nil {
		return nil, v, err
	}
	f.version, f.versionK = v, true
	return f, v, nil
}

func (s *Store) maxSize() int64 {
	if s.MaxSize > 0 {
		return min(s.MaxSize, MaxSizeLimit)
	}
	return DefaultMaxSize
}

// readFile reads auth.json, refusing anything that is not a regular file
// before it reads a byte: the open never blocks (a FIFO would block it for
// ever), and the size is checked on the open file, not its name, before
// anything is allocated (a link to /dev/zero, or a sparse file of a
// gigabyte, would take all the memory there is). found is false for a
// missing file (a dangling symlink included).
func (s *Store) readFile() (data []byte, found bool, err error) {
	f, err := openRegular(s.path, unix.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("authfile: read: %w", err)
	}
	limit := s.maxSize()
	if fi.Size() > limit {
		return nil, false, tooLarge(s.path, fi.Size(), limit)
	}
	// Read at most limit+1 bytes: the file may grow after the stat.
	data = make([]byte, 0, fi.Size()+1)
	for int64(len(data)) <= limit {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		room := min(int64(cap(data)), limit+1) - int64(len(data))
		n, err := f.Read(data[len(data) : int64(len(data))+room])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("authfile: read: %w", err)
		}
	}
	if int64(len(data)) > limit {
		return nil, false, tooLarge(s.path, int64(len(data)), limit)
	}
	return data, true, nil
}

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("authfile: %s is %d bytes or more, over the limit of %d (Store.MaxSize); not read: %w",
		path, size, limit, ErrTooLarge)
}

// openRegular opens path (following symlinks) without blocking, and
// returns it only if it is a regular file; anything else is ErrNotRegular,
// naming what it is. mode is unix.O_RDONLY or, with more flags, what the
// caller needs.
func openRegular(path string, mode int) (*os.File, error) {
	fd, err := unix.Open(path, mode|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0o600)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, mode|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0o600)
	}
	if err != nil {
		// A socket cannot be opened at all (ENXIO); say what it is.
		if errors.Is(err, unix.ENXIO) {
			if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
				return nil, notRegular(path, fi.Mode())
			}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("authfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	// O_NONBLOCK means nothing to a regular file; it only kept the open
	// from waiting on a FIFO's writer or a device.
	return f, nil
}

func notRegular(path string, mode fs.FileMode) error {
	what := "not a regular file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case mode&fs.ModeCharDevice != 0:
		what = "a character device"
	case mode&fs.ModeDevice != 0:
		what = "a block device"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	case mode.IsDir():
		what = "a directory"
	}
	if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		what = "a symlink to " + what
	}
	return fmt.Errorf("authfile: %s is %s; it is left alone: %w", path, what, ErrNotRegular)
}
