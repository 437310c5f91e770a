package authfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// tempPattern names our temp files; write creates them beside the target.
const tempPattern = ".auth.json.tmp-*"

// RemoveStaleTemps removes temp files that a writer killed mid-write left
// beside auth.json (each holds a copy of every token). Our writes hold
// auth.lock for the whole life of their temp file, so under the lock every
// match is stale. It returns how many it removed. It never waits for the
// lock: while another process holds it, it removes nothing and returns
// ErrLockBusy, for the caller to try again later.
func (s *Store) RemoveStaleTemps() (int, error) {
	target, err := resolve(s.path)
	if err != nil {
		return 0, fmt.Errorf("authfile: clean temp files: %w", err)
	}
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(target), tempPattern))
	if err != nil || len(matches) == 0 {
		return 0, err
	}
	unlock, err := s.TryLock()
	if err != nil {
		return 0, err
	}
	defer func() { _ = unlock() }()
	n := 0
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			n++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("authfile: clean temp files: %w", err)
		}
	}
	return n, nil
}
