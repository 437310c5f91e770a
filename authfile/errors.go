package authfile

import (
	"errors"
	"fmt"
)

// ErrUnusable is wrapped by every error that means "auth.json is there but
// credpool cannot use it": a corrupt file, a path that is not a regular
// file, a file over Store.MaxSize. Such a file is never written over; a
// long-running caller keeps its last good state and reports the error.
var ErrUnusable = errors.New("auth file is unusable")

// ErrCorrupt is wrapped by every *CorruptError: the file exists but is not
// JSON (a syntax error, a half-written file) or not shaped like auth.json
// (a top level, credential_pool or pool of the wrong type). It also
// matches ErrUnusable.
var ErrCorrupt = errors.New("auth file is corrupt")

// ErrNotRegular: the auth.json path (or what its symlink points to) is a
// named pipe, a device, a directory or a socket. It is never opened in a
// way that could block, never read and never replaced. It matches
// ErrUnusable.
var ErrNotRegular error = unusable("not a regular file")

// ErrTooLarge: auth.json is larger than Store.MaxSize. It is not read. It
// matches ErrUnusable.
var ErrTooLarge error = unusable("file too large")

// ErrLockTimeout is returned when auth.lock stays held by someone else for
// longer than the store's lock timeout.
var ErrLockTimeout = errors.New("timed out waiting for auth lock")

// ErrLockBusy is returned at once by TryLock and the calls built on it
// when another process holds auth.lock.
var ErrLockBusy = errors.New("auth lock is held by another process")

// unusableError is a sentinel that also matches ErrUnusable.
type unusableError struct{ msg string }

func unusable(msg string) *unusableError { return &unusableError{msg} }

func (e *unusableError) Error() string        { return e.msg }
func (e *unusableError) Is(target error) bool { return target == ErrUnusable }

// CorruptError says where a file stopped making sense. Its message names the
// path and the position, never the file's content: the file holds secrets.
type CorruptError struct {
	Path   string // "" when the data did not come from a file
	Offset int64  // byte offset of the problem in the data as given (BOM included)
	Line   int    // 1-based
	Col    int    // 1-based, in bytes
	Err    error  // what is wrong, in words that quote no content
}

func (e *CorruptError) Error() string {
	where := e.Path
	if where == "" {
		where = "<data>"
	}
	return fmt.Sprintf("%s: %s: line %d, column %d (offset %d): %v",
		ErrCorrupt, where, e.Line, e.Col, e.Offset, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) and errors.Is(err, ErrUnusable) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt || target == ErrUnusable }

func (e *CorruptError) Unwrap() error { return e.Err }

// corruptAt builds a CorruptError for the byte offset off of data.
func corruptAt(data []byte, off int, err error) *CorruptError {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &CorruptError{Offset: int64(off), Line: line, Col: col, Err: err}
}
