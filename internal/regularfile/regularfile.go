// Package regularfile opens and reads a file that anyone may have put
// something else in place of: a named pipe (whose open would wait for a
// writer for ever), a device such as /dev/zero behind a symlink (a read
// without end), a socket, a directory, or a sparse file of gigabytes. Open
// never blocks and hands back only a regular file; Read also bounds what it
// reads by the size of the open file, before it allocates, and again by
// what it reads, should the file grow meanwhile. It is the one such read in
// credpool (auth.json and its lock, credpool's state file, another tool's
// login file).
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Sentinels for errors.Is.
var (
	// ErrNotRegular: the path (or what its symlink points to) is not a
	// regular file. A *NotRegularError says what it is.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is over the caller's limit; a *TooLargeError
	// says by how much.
	ErrTooLarge = errors.New("file too large")
)

// NotRegularError names the path and what is there instead of a regular
// file.
type NotRegularError struct {
	Path string
	What string // "a named pipe (FIFO)", "a symlink to a directory", ...
	// Info is what was opened, for a caller that notes what it saw to
	// tell later whether it changed; nil when nothing could be opened (a
	// socket) or the caller looked itself.
	Info fs.FileInfo
}

func (e *NotRegularError) Error() string        { return e.Path + " is " + e.What }
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// NotRegular describes path, found with mode (of the file or of what its
// symlink points to), for a caller that looked itself (a last look before a
// rename).
func NotRegular(path string, mode fs.FileMode) *NotRegularError {
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
	case mode&fs.ModeSymlink != 0:
		what = "a symlink"
	}
	if mode&fs.ModeSymlink == 0 {
		if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			what = "a symlink to " + what
		}
	}
	return &NotRegularError{Path: path, What: what}
}

// TooLargeError says that the file at Path held Size bytes or more, over
// Limit.
type TooLargeError struct {
	Path        string
	Size, Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes or more, over the limit of %d", e.Path, e.Size, e.Limit)
}
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Open opens path without blocking and returns it only if it is a regular
// file; anything else is a *NotRegularError, and a failed open the
// *fs.PathError of it (fs.ErrNotExist for a missing file or a dangling
// symlink). flags are unix open flags: unix.O_RDONLY, or what the caller
// needs (unix.O_NOFOLLOW to refuse a symlink, which fails with ELOOP;
// unix.O_RDWR|unix.O_CREAT, which creates the file 0600).
func Open(path string, flags int) (*os.File, error) {
	flags |= unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	fd, err := unix.Open(path, flags, 0o600)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, flags, 0o600)
	}
	if err != nil {
		// A socket cannot be opened at all (ENXIO); say what it is.
		if errors.Is(err, unix.ENXIO) {
			if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
				return nil, NotRegular(path, fi.Mode())
			}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		nr := NotRegular(path, fi.Mode())
		nr.Info = fi
		return nil, nr
	}
	// O_NONBLOCK means nothing to a regular file; it only kept the open
	// from waiting on a FIFO's writer or a device.
	return f, nil
}

// Read reads the regular file at path (following symlinks) if it holds at
// most limit bytes, and returns what it read with the FileInfo of the file
// it opened (to tell later whether it changed). A file over limit is a
// *TooLargeError, found from its size before anything is allocated; a
// missing file is an error matching fs.ErrNotExist; what Open refuses is
// refused.
func Read(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := Open(path, unix.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() > limit {
		return nil, fi, &TooLargeError{Path: path, Size: fi.Size(), Limit: limit}
	}
	// Read at most limit+1 bytes: the file may grow after the stat.
	data := make([]byte, 0, fi.Size()+1)
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
			return nil, fi, err
		}
	}
	if int64(len(data)) > limit {
		return nil, fi, &TooLargeError{Path: path, Size: int64(len(data)), Limit: limit}
	}
	return data, fi, nil
}
