package socketapi

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

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

// Listen creates the socket at path with mode 0600 from the moment it
// exists: the umask is 0177 around the bind, so there is no window before a
// chmod. The directory must pass SecureDir. An existing file at path makes
// Listen fail (removing a stale socket is the daemon's business). The
// listener checks each connection's peer uid with DefaultAllowUID;
// Server.Serve applies its own AllowUID instead.
//
// While Listen runs, files created by other goroutines get the 0177 umask
// too, which only makes them tighter.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath() {
		return nil, fmt.Errorf("socketapi: socket path %s is %d bytes, longer than the %d a Unix socket allows; choose a shorter one",
			path, len(path), maxSocketPath())
	}
	if err := SecureDir(filepath.Dir(path)); err != nil {
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

// SecureDir makes sure the socket's directory is private: it creates it
// 0700 when missing, and refuses (never narrows) one that is not a
// directory, belongs to another user or is writable by group or others,
// where someone else could replace the socket or plant a symlink. The
// daemon checks it before it touches anything inside.
func SecureDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("socketapi: socket directory: %w", err)
		}
		fi, err = os.Stat(dir)
	}
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
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("socketapi: socket directory %s is writable by %s (mode %04o); credpool will not narrow a directory it did not create: choose a private directory, e.g. the default socket path",
			dir, writableBy(fi.Mode()), fi.Mode().Perm()|fi.Mode()&fs.ModeSticky)
	}
	return nil
}

func writableBy(m fs.FileMode) string {
	switch {
	case m.Perm()&0o002 != 0:
		return "everyone"
	default:
		return "its group"
	}
}
