// Package statefile is credpool's own state file beside auth.json
// (paths.State): what must survive a restart that Hermes' format has no
// place for (removals, replaced token generations, quota observations).
// It holds fingerprints, never a token.
//
// Whoever changes auth.json with the pool code, the daemon or an offline
// admin command, does it the same way: Load before the pool loads
// auth.json (pool.ImportState), and, under auth.lock, Write before
// auth.json is written, so that a removal is remembered before it is
// visible and a stale writer that brings the row back cannot resurrect it.
package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/credpool/credpool/internal/atomicfile"
	"github.com/credpool/credpool/internal/regularfile"
	"github.com/credpool/credpool/pool"
)

// State is the file's content.
type State struct {
	Version int        `json:"version"`
	Pool    pool.State `json:"pool"`
}

// version is the format Write writes and Load reads.
const version = 1

// MaxSize bounds what is read of the file; credpool never writes one this
// large, so a larger one is as good as corrupt.
const MaxSize = 16 << 20

// ErrSetAside is wrapped by Load's error when the file did not parse (or
// was over MaxSize) and was moved aside: the State is empty, and a caller
// may go on without it, since what it held is kept where the error says.
// Any other error left the file where it is.
var ErrSetAside = errors.New("state file did not parse and was set aside")

// Load reads the state file at path; a missing one is the empty State. A
// file that is not a regular file (a FIFO is never waited on) or cannot be
// read is an error and left alone. One that does not parse is never
// trusted nor lost: it is renamed to a free name (path.corrupt, else
// path.corrupt.2, ...; an earlier copy is never written over) and the
// error wraps ErrSetAside.
func Load(path string) (State, error) {
	data, _, err := regularfile.Read(path, MaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return State{}, nil
	case err != nil && !errors.Is(err, regularfile.ErrTooLarge):
		return State{}, fmt.Errorf("state file: %w", err)
	}
	var st State
	if err == nil && json.Unmarshal(data, &st) == nil && st.Version == version {
		return st, nil
	}
	aside, err := setAside(path)
	if err != nil {
		return State{}, fmt.Errorf("state file %s does not parse, and could not be set aside: %w", path, err)
	}
	return State{}, fmt.Errorf("state file %s does not parse; moved it to %s and went on without it: %w", path, aside, ErrSetAside)
}

// setAside moves path to the first free name of path.corrupt,
// path.corrupt.2, ... A hard link claims the name (it fails if the name is
// taken, where a rename would replace it); a file system without hard
// links gets a rename to a name that was free when looked at.
func setAside(path string) (string, error) {
	for n := 1; n <= 100; n++ {
		aside := path + ".corrupt"
		if n > 1 {
			aside += "." + strconv.Itoa(n)
		}
		err := os.Link(path, aside)
		switch {
		case err == nil:
			return aside, os.Remove(path)
		case errors.Is(err, fs.ErrExist):
			continue
		}
		if _, lerr := os.Lstat(aside); !errors.Is(lerr, fs.ErrNotExist) {
			continue
		}
		return aside, os.Rename(path, aside)
	}
	return "", fmt.Errorf("%s.corrupt to %s.corrupt.100 are all taken", path, path)
}

// Write replaces the state file at path atomically (0600). Callers hold
// auth.lock and write it before auth.json.
func Write(path string, st State) error {
	st.Version = version
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), atomicfile.Options{}); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
