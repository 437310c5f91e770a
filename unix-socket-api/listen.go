package socketapi

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultSocketPath is where the daemon listens and clients dial by default:
// $XDG_RUNTIME_DIR/credpool/credpool.sock, else
// $HOME/.cache/credpool/credpool.sock; on macOS $TMPDIR/credpool/credpool.sock
// ($TMPDIR is per user there).
func DefaultSocketPath() string {
	if runtime.GOOS == "darwin" {
		return filepath.Join(os.TempDir(), "credpool", "credpool.sock")
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "credpool", "credpool.sock")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "credpool", "credpool.sock")
}

// maxSocketPath is the longest path a Unix socket address holds (sun_path,
// less its NUL): 107 on Linux, 103 on the BSDs and macOS.
func maxSocketPath() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// umaskMu serialises Listen's umask change: the umask is process-wide.
var umaskMu sync.Mutex

// Listen creates the socket's directory (0700), and the socket at path with
// mode 0600 from the moment it exists: the umask is 0177 around the bind, so
// there is no window before a chmod. An existing directory of ours is
// tightened to 0700; one owned by another user is refused. An existing file
// at path makes Listen fail (removing a stale socket is the daemon's
// business). The listener checks each connection's peer uid with
// DefaultAllowUID; Server.Serve applies its own AllowUID instead.
//
// While Listen runs, files created by other goroutines get the 0177 umask
// too, which only makes them tighter.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath() {
		return nil, fmt.Errorf("socketapi: socket path %s is %d bytes, longer than the %d a Unix socket allows; choose a shorter one",
			path, len(path), maxSocketPath())
	}
	dir := filepath.Dir(path)
	if err := secureDir(dir); err != nil {
		return nil, err
	}
	umaskMu.Lock()
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("socketapi: listen: %w", err)
	}
	return &peerListener{Listener: l, allow: DefaultAllowUID}, nil
}

// secureDir makes dir (and its parents) and leaves dir 0700 and ours.
func secureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("socketapi: socket directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socketapi: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socketapi: socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("socketapi: socket directory %s belongs to uid %d, not to this user (%d); choose another socket path",
			dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socketapi: socket directory: %w", err)
		}
	}
	return nil
}
