package authfile

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every *CorruptError: the file exists but is not an
// auth.json credpool can work with (a syntax error, a half-written file, or a
// value of the wrong type). Such a file is never written over.
var ErrCorrupt = errors.New("auth file is corrupt")

// ErrLockTimeout is returned when auth.lock stays held by someone else for
// longer than the store's lock timeout.
var ErrLockTimeout = errors.New("timed out waiting for auth lock")

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

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

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
