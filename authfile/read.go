package authfile

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/credpool/credpool/internal/regularfile"
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

// readFile reads auth.json with regularfile: the open never blocks (a
// FIFO would block it for ever), anything but a regular file is refused
// before a byte is read, and the size is checked on the open file, not its
// name, before anything is allocated (a link to /dev/zero, or a sparse
// file of a gigabyte, would take all the memory there is). found is false
// for a missing file (a dangling symlink included).
func (s *Store) readFile() (data []byte, found bool, err error) {
	data, _, err = regularfile.Read(s.path, s.maxSize())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fromRegular(err, "read")
	}
	return data, true, nil
}

// fromRegular gives regularfile's refusals authfile's sentinels (which
// match ErrUnusable) and words; other errors are wrapped with op.
func fromRegular(err error, op string) error {
	var nr *regularfile.NotRegularError
	var tl *regularfile.TooLargeError
	switch {
	case errors.As(err, &nr):
		return notRegular(nr)
	case errors.As(err, &tl):
		return fmt.Errorf("authfile: %s is %d bytes or more, over the limit of %d (Store.MaxSize); not read: %w",
			tl.Path, tl.Size, tl.Limit, ErrTooLarge)
	}
	return fmt.Errorf("authfile: %s: %w", op, err)
}

func notRegular(e *regularfile.NotRegularError) error {
	return fmt.Errorf("authfile: %s is %s; it is left alone: %w", e.Path, e.What, ErrNotRegular)
}
