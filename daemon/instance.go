package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gofrs/flock"

	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// instanceLockPath is the single-instance lock: beside the socket, so that
// two daemons for the same socket exclude each other.
func instanceLockPath(socket string) string {
	return filepath.Join(filepath.Dir(socket), filepath.Base(socket)+".lock")
}

// acquireInstance takes the single-instance lock beside the socket before the
// socket is touched, so a second daemon can never unlink a live daemon's
// socket. The directory is checked first, and the lock is opened without
// following a symlink: in a directory someone else controls, a planted
// link would make us write our pid into a file of theirs choosing. The
// lock file holds the owner's pid, to name it in the error.
func acquireInstance(socket string) (release func(), err error) {
	if err := socketapi.SecureDir(filepath.Dir(socket)); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	path := instanceLockPath(socket)
	lk := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW), flock.SetPermissions(0o600))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("daemon: instance lock %s: %w", path, err)
	}
	if !ok {
		owner := "unknown pid"
		if b, rerr := readNoFollow(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			owner = "pid " + strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%w (%s) on socket %s; stop it first (credpool service stop, or kill that pid)", ErrAlreadyRunning, owner, socket)
	}
	// Writing through a second descriptor keeps the lock: flock belongs to
	// the descriptor gofrs/flock opened. It is opened without following a
	// link too; the directory is ours, so nobody can swap the file between.
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600); err == nil {
		_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
		_ = f.Close()
	}
	return func() { _ = lk.Unlock() }, nil
}

func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 32)
	n, err := f.Read(b)
	return b[:n], err
}
