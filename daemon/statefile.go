package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/credpool/credpool/internal/atomicfile"
	"github.com/credpool/credpool/pool"
)

// ownState is credpool's own state file beside auth.json: what the daemon
// must remember across a restart that Hermes' format has no place for
// (removals, replaced token generations). It holds fingerprints, never a
// token, and is written atomically under auth.lock with auth.json.
type ownState struct {
	Version int        `json:"version"`
	Pool    pool.State `json:"pool"`
}

const ownStateVersion = 1

// maxStateSize bounds what is read of the state file.
const maxStateSize = 16 << 20

// loadOwnState reads the state file; a missing one is empty. A file that
// does not parse is set aside (renamed *.corrupt) rather than trusted or
// silently lost.
func loadOwnState(path string) (ownState, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ownState{}, nil
	}
	if err != nil {
		return ownState{}, fmt.Errorf("daemon: state file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return ownState{}, fmt.Errorf("daemon: state file: %w", err)
	}
	var st ownState
	if len(data) > maxStateSize || json.Unmarshal(data, &st) != nil || st.Version != ownStateVersion {
		_ = os.Rename(path, path+".corrupt")
		return ownState{}, fmt.Errorf("daemon: state file %s does not parse; moved it to %s.corrupt and started without it", path, path)
	}
	return st, nil
}

func writeOwnState(path string, st ownState) error {
	st.Version = ownStateVersion
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("daemon: state file: %w", err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), atomicfile.Options{}); err != nil {
		return fmt.Errorf("daemon: state file: %w", err)
	}
	return nil
}
