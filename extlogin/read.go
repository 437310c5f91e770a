package extlogin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/credpool/credpool/internal/regularfile"
)

// Sentinels for errors.Is.
var (
	// ErrNotLoggedIn: the tool is not logged in (no file, or a file
	// without a login). Not a fault.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrPartial: the file is empty or its JSON ends early or does not
	// parse: a tool rewriting it in place is half-way. Read it again in a
	// few milliseconds; if it stays so, keep the last good login.
	ErrPartial = errors.New("partial or not JSON")
	// ErrBadFile: the file is there but unusable, and reading it again
	// will not help until someone changes it: not a regular file, too
	// large, or JSON of the wrong shape.
	ErrBadFile = errors.New("unusable credential file")
)

// MaxFileSize is the most a credential file may hold. The real ones are a
// few KiB; the cap keeps a hostile or mistaken file from costing memory.
const MaxFileSize = 1 << 20

// problem is an error of one of the sentinel kinds with a message that
// names fields and byte offsets, never values.
type problem struct {
	kind error
	msg  string
}

func (p *problem) Error() string        { return p.kind.Error() + ": " + p.msg }
func (p *problem) Is(target error) bool { return target == p.kind }

func problemf(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Read reads and parses src's credential file once. The error is, by
// errors.Is, ErrNotLoggedIn, ErrPartial (read again shortly: Watcher
// does), ErrBadFile, or an I/O error such as a permission denied; its
// text names the path and what is wrong, never a value from the file. A
// login that exists but cannot be used is no error: it comes back with
// Broken set and no tokens.
func Read(src Source) (Login, error) {
	l, _, _, err := load(src)
	return l, err
}

// load is Read that also returns the bytes it parsed and the stamp of the
// file it opened.
func load(src Source) (Login, []byte, stamp, error) {
	data, st, err := readFile(src.Path)
	var l Login
	if err == nil {
		l, err = parse(src, data)
	}
	if err != nil {
		return Login{}, nil, st, fmt.Errorf("extlogin: %s %s: %w", src.Name, src.Path, err)
	}
	return l, data, st, nil
}

// stamp is what a re-stat compares to tell that a file changed without
// reading it.
type stamp struct {
	exists     bool
	size       int64
	mtime      int64
	dev, inode uint64
}

func stampOf(fi fs.FileInfo) stamp {
	st := stamp{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.inode = uint64(sys.Dev), sys.Ino
	}
	return st
}

// statPath is the stamp of the file at path as a read would open it
// (following symlinks); a missing or unreadable file has the zero stamp.
func statPath(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stampOf(fi)
}

// readFile reads path without trusting what is there (regularfile.Read:
// opened without blocking, so a FIFO cannot hang it; anything but a regular
// file refused before a byte is read; a file over MaxFileSize refused by
// its size). The stamp is of the file that was opened.
func readFile(path string) ([]byte, stamp, error) {
	data, fi, err := regularfile.Read(path, MaxFileSize)
	var nr *regularfile.NotRegularError
	var tl *regularfile.TooLargeError
	switch {
	case err == nil:
		return data, stampOf(fi), nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, stamp{}, problemf(ErrNotLoggedIn, "no file")
	case errors.Is(err, syscall.ENOTDIR):
		return nil, stamp{}, problemf(ErrBadFile, "a parent of the path is not a directory")
	case errors.Is(err, syscall.ELOOP):
		return nil, stamp{}, problemf(ErrBadFile, "too many levels of symbolic links")
	case errors.As(err, &nr):
		st, what := stamp{}, nr.What
		if nr.Info != nil {
			st, what = stampOf(nr.Info), fileType(nr.Info.Mode())
		}
		return nil, st, problemf(ErrBadFile, "not a regular file (%s)", what)
	case errors.As(err, &tl):
		var st stamp
		if fi != nil {
			st = stampOf(fi)
		}
		return nil, st, problemf(ErrBadFile, "%d bytes or more, more than the %d a credential file may hold", tl.Size, MaxFileSize)
	}
	return nil, stamp{}, err
}

// fileType names a file mode in extlogin's messages.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "file type " + m.Type().String()
}
