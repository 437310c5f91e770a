package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// acquireInstance takes the single-instance lock beside the socket before the
// socket is touched, so a second daemon can never unlink a live daemon's
// socket. The lock file holds the owner's pid, to name it in the error.
func acquireInstance(socket string) (release func(), err error) {
	dir := filepath.Dir(socket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: runtime dir: %w", err)
	}
	path := instanceLockPath(socket)
	lk := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("daemon: instance lock %s: %w", path, err)
	}
	if !ok {
		owner := "unknown pid"
		if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			owner = "pid " + strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%w (%s) on socket %s; stop it first (credpool service stop, or kill that pid)", ErrAlreadyRunning, owner, socket)
	}
	// Writing through a second descriptor keeps the lock: flock belongs to
	// the descriptor gofrs/flock opened.
	_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return func() { _ = lk.Unlock() }, nil
}
