package daemon

import (
	"fmt"

	"github.com/credpool/credpool/internal/statefile"
)

// ownState is credpool's own state file beside auth.json (package
// statefile, which the offline admin commands use too): the daemon
// imports it at start and writes it under auth.lock before auth.json
// (syncWith). These names stay for the daemon's callers.
type ownState = statefile.State

func loadOwnState(path string) (ownState, error) {
	st, err := statefile.Load(path)
	if err != nil {
		return st, fmt.Errorf("daemon: %w", err)
	}
	return st, nil
}

func writeOwnState(path string, st ownState) error {
	if err := statefile.Write(path, st); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}
