package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/credpool/credpool/internal/atomicfile"
)

// Actions that Control accepts.
const (
	ActionInstall   = "install"
	ActionUninstall = "uninstall"
	ActionStart     = "start"
	ActionStop      = "stop"
	ActionRestart   = "restart"
	ActionStatus    = "status"
)

// Actions lists every action Control accepts, for usage text.
var Actions = []string{ActionInstall, ActionUninstall, ActionStart, ActionStop, ActionRestart, ActionStatus}

// Control installs, removes, starts, stops, restarts or reports on the
// credpool service: systemd on Linux, launchd on macOS.
//
// install is idempotent: it (re)writes the unit only when its content
// changed, reloads the manager, enables and starts the service, and restarts
// it when the unit changed under a running daemon. It refuses a binary in a
// temporary build directory (go run). status prints installed / running /
// stopped and, with opts.Probe, whether the socket answers; it returns
// ErrNotInstalled, ErrNotRunning or the probe's error when not all is well.
func Control(ctx context.Context, action string, opts Options) error {
	return control(ctx, action, opts, currentHost())
}

// manager is one service manager (systemd or launchd) for one Options.
type manager interface {
	install(ctx context.Context) error
	uninstall(ctx context.Context) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	restart(ctx context.Context) error
	status(ctx context.Context) (serviceState, error)
	// describe names the service and where it is defined, for messages.
	describe() string
}

type serviceState string

const (
	stateRunning serviceState = "running"
	stateStopped serviceState = "stopped"
	stateFailed  serviceState = "failed"
)

// hostEnv is everything Control learns from the machine; tests replace it.
type hostEnv struct {
	// root prefixes the system-wide paths (/etc/systemd/system,
	// /Library/LaunchDaemons); empty outside tests.
	root    string
	goos    string
	uid     int
	home    string
	tempDir string
	getenv  func(string) string
	// run executes a service-manager command. err is set only when the
	// command could not run at all; a non-zero exit is reported in code.
	run        func(ctx context.Context, name string, args ...string) (out string, code int, err error)
	lookupUser func(name string) (*user.User, error)
}

func hostEnvironment() hostEnv {
	home, _ := os.UserHomeDir()
	return hostEnv{
		goos:       runtime.GOOS,
		uid:        os.Getuid(),
		home:       home,
		tempDir:    os.TempDir(),
		getenv:     os.Getenv,
		run:        runCommand,
		lookupUser: user.Lookup,
	}
}

// currentHost is a variable so that a test can make sure Control never
// reaches the real service manager.
var currentHost = hostEnvironment

func runCommand(ctx context.Context, name string, args ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// systemctl would otherwise page and colour its output.
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return out.String(), -1, fmt.Errorf("packaging: run %s: %w", name, err)
	}
	return out.String(), 0, nil
}

func control(ctx context.Context, action string, opts Options, e hostEnv) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var m manager
	switch e.goos {
	case "linux":
		m = &systemd{opts: opts, e: e}
	case "darwin":
		m = &launchd{opts: opts, e: e}
	default:
		return fmt.Errorf("packaging: %s: %w", e.goos, ErrUnsupportedOS)
	}
	switch action {
	case ActionInstall:
		if err := checkInstallable(opts, e); err != nil {
			return err
		}
		return m.install(ctx)
	case ActionUninstall:
		return m.uninstall(ctx)
	case ActionStart:
		return m.start(ctx)
	case ActionStop:
		return m.stop(ctx)
	case ActionRestart:
		return m.restart(ctx)
	case ActionStatus:
		return printStatus(ctx, m, opts)
	default:
		return fmt.Errorf("packaging: %q (want one of %s): %w", action, strings.Join(Actions, ", "), ErrUnknownAction)
	}
}

// checkInstallable refuses what would leave a service that cannot start:
// a go-run binary that disappears when go run exits, a binary that is not
// there, a system service without a user or without root.
func checkInstallable(opts Options, e hostEnv) error {
	if isTemporaryBinary(opts.BinaryPath, e.tempDir) {
		return fmt.Errorf("packaging: %s: %w (go run?): the service needs a binary that stays; "+
			"install one with `go install github.com/credpool/credpool/cmd/credpool@latest` or the .deb/.rpm, "+
			"then run `credpool service install` with that binary", opts.BinaryPath, ErrTemporaryBinary)
	}
	info, err := os.Stat(opts.BinaryPath)
	if err != nil {
		return fmt.Errorf("packaging: binary: %w", err)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("packaging: binary %s is not an executable file: %w", opts.BinaryPath, ErrInvalidOption)
	}
	if opts.System {
		if err := opts.requireUser(); err != nil {
			return err
		}
		if e.uid != 0 {
			return fmt.Errorf("packaging: installing a system service needs root: run `sudo credpool service install --system --user %s`: %w", opts.User, fs.ErrPermission)
		}
	}
	return nil
}

// isTemporaryBinary spots go run's throw-away binaries: any go-build*
// directory in the path, or anything under the temp directory.
func isTemporaryBinary(path, tempDir string) bool {
	for _, p := range []string{path, resolved(path)} {
		for _, part := range strings.Split(filepath.ToSlash(p), "/") {
			if strings.HasPrefix(part, "go-build") {
				return true
			}
		}
		if tempDir != "" {
			if rel, err := filepath.Rel(resolved(tempDir), p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return true
			}
		}
	}
	return false
}

func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func printStatus(ctx context.Context, m manager, opts Options) error {
	out := opts.out()
	state, err := m.status(ctx)
	var result error
	switch {
	case errors.Is(err, ErrNotInstalled):
		fmt.Fprintf(out, "service: not installed (%s)\n", m.describe())
		result = err
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "service: installed (%s)\n", m.describe())
		fmt.Fprintf(out, "state:   %s\n", state)
		if state != stateRunning {
			result = fmt.Errorf("packaging: %s: %w", state, ErrNotRunning)
		}
	}
	// The socket is asked even when the service is not running: a daemon
	// started by hand in a terminal serves the same socket.
	if opts.Probe != nil {
		if perr := opts.Probe(ctx); perr != nil {
			fmt.Fprintf(out, "socket:  not answering: %v\n", perr)
			if result == nil {
				result = fmt.Errorf("packaging: socket: %w", perr)
			}
		} else {
			fmt.Fprintln(out, "socket:  answering")
		}
	}
	return result
}

// writeIfChanged writes data to path atomically (atomicfile: temp file,
// fsync, rename, fsync of the directory, so that a crash mid-install leaves
// the old unit or the new, never an empty one) unless the file already
// holds exactly data. It reports whether it wrote.
func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("packaging: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, atomicfile.Options{Perm: perm}); err != nil {
		return false, fmt.Errorf("packaging: write %s: %w", path, err)
	}
	return true, nil
}

// printInstallResult says what install did to the unit file or plist.
func printInstallResult(out io.Writer, describe string, existed, changed bool, onChange string) {
	switch {
	case !existed:
		fmt.Fprintf(out, "Installed %s.\n", describe)
	case changed:
		fmt.Fprintf(out, "Updated %s (%s).\n", describe, onChange)
	default:
		fmt.Fprintf(out, "%s is up to date.\n", describe)
	}
}

func notInstalled(describe string, system bool) error {
	how := "credpool service install"
	if system {
		how = "sudo credpool service install --system --user NAME"
	}
	return fmt.Errorf("packaging: %s: %w; run `%s` first", describe, ErrNotInstalled, how)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
