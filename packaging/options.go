package packaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Names shared by the unit files, the plist and the package.
const (
	// ServiceName is the systemd unit base name (credpool.service).
	ServiceName = "credpool"
	// LaunchdLabel is the launchd job label and plist base name.
	LaunchdLabel = "com.github.credpool.credpool"
	// DefaultSystemSocket is where a system service listens when no socket is
	// given: inside its RuntimeDirectory, which systemd creates 0700 and owned
	// by the service user.
	DefaultSystemSocket = "/run/credpool/credpool.sock"
	// PackagedBinary is where the .deb and .rpm put the binary.
	PackagedBinary = "/usr/bin/credpool"
)

// Sentinel errors, for callers that map them to exit codes.
var (
	// ErrNotInstalled: start, stop, restart or status of a service that has no
	// unit file or plist.
	ErrNotInstalled = errors.New("service is not installed")
	// ErrNotRunning: status found the service installed but not running.
	ErrNotRunning = errors.New("service is not running")
	// ErrTemporaryBinary: install was asked to point the service at a binary
	// that lives in a temporary build directory (go run).
	ErrTemporaryBinary = errors.New("binary is in a temporary build directory")
	// ErrNoUserBus: no systemd user manager can be reached.
	ErrNoUserBus = errors.New("no systemd user session")
	// ErrUnknownAction: Control got an action it does not know.
	ErrUnknownAction = errors.New("unknown service action")
	// ErrInvalidOption: a path or user name that cannot be written into a
	// unit file or plist (relative path, newline, missing user for --system).
	ErrInvalidOption = errors.New("invalid service option")
	// ErrUnsupportedOS: no service manager that packaging knows of.
	ErrUnsupportedOS = errors.New("service management is not supported on this OS")
)

// Options describes the service to install or control.
type Options struct {
	// System installs a system service (systemd system unit, LaunchDaemon)
	// that runs as User, instead of the default per-user service.
	System bool
	// User is the account a system service runs as. Required with System.
	User string
	// BinaryPath is the credpool executable the service runs. Default:
	// os.Executable(). Symlinks are kept, so that a package manager's stable
	// path survives upgrades.
	BinaryPath string
	// AuthFile and Socket are written into the unit as paths.AuthFileEnv and
	// paths.SocketEnv so that the service and the CLI agree. Empty leaves the
	// daemon's own default (user service) or DefaultSystemSocket (system).
	AuthFile, Socket string
	// ConfigFile, when set, is passed to the daemon as --config.
	ConfigFile string
	// LogDir is where launchd writes the daemon's stdout and stderr. Default:
	// ~/Library/Logs/credpool (system: /Library/Logs/credpool). Unused by
	// systemd, which logs to the journal.
	LogDir string
	// Out receives next steps and status lines. Default: io.Discard.
	Out io.Writer
	// Probe, when set, is called by status (and by Run, to decide when to
	// send READY=1) to ask whether the socket answers health.
	Probe func(ctx context.Context) error
}

func (o Options) out() io.Writer {
	if o.Out == nil {
		return io.Discard
	}
	return o.Out
}

// withDefaults fills BinaryPath and checks what every renderer needs.
func (o Options) withDefaults() (Options, error) {
	if o.BinaryPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("packaging: find own binary: %w", err)
		}
		o.BinaryPath = exe
	}
	paths := []struct {
		name string
		p    *string
	}{
		{"binary path", &o.BinaryPath}, {"auth file", &o.AuthFile}, {"socket", &o.Socket},
		{"config file", &o.ConfigFile}, {"log dir", &o.LogDir},
	}
	for _, f := range paths {
		if *f.p == "" {
			continue
		}
		if !filepath.IsAbs(*f.p) {
			return o, fmt.Errorf("packaging: %s %q is not absolute: %w", f.name, *f.p, ErrInvalidOption)
		}
		if err := checkPrintable(*f.p); err != nil {
			return o, fmt.Errorf("packaging: %s: %w", f.name, err)
		}
		*f.p = filepath.Clean(*f.p)
	}
	return o, nil
}

// requireUser checks the account a system service runs as.
func (o Options) requireUser() error {
	if o.User == "" {
		return fmt.Errorf("packaging: a system service needs a user to run as (--user NAME): %w", ErrInvalidOption)
	}
	if strings.ContainsAny(o.User, " \t/%\"'\\$:") || checkPrintable(o.User) != nil {
		return fmt.Errorf("packaging: user name %q: %w", o.User, ErrInvalidOption)
	}
	return nil
}

// checkPrintable refuses control characters: a newline in a path would end
// the unit-file line and let the rest be read as another directive.
func checkPrintable(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q contains a control character: %w", s, ErrInvalidOption)
		}
	}
	return nil
}
