package packaging

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/credpool/credpool/paths"
)

// systemd manages credpool.service through systemctl, --user unless
// opts.System.
type systemd struct {
	opts Options
	e    hostEnv
}

const unitName = ServiceName + ".service"

func (s *systemd) unitPath() string {
	if s.opts.System {
		return filepath.Join(s.e.root, "/etc/systemd/system", unitName)
	}
	// systemd --user reads $XDG_CONFIG_HOME/systemd/user first.
	config := s.e.getenv("XDG_CONFIG_HOME")
	if config == "" || !filepath.IsAbs(config) {
		config = filepath.Join(s.e.home, ".config")
	}
	return filepath.Join(config, "systemd", "user", unitName)
}

func (s *systemd) describe() string {
	if s.opts.System {
		return "system unit " + s.unitPath()
	}
	return "user unit " + s.unitPath()
}

func (s *systemd) scope() string {
	if s.opts.System {
		return "systemctl"
	}
	return "systemctl --user"
}

func (s *systemd) install(ctx context.Context) error {
	if err := s.checkBus(); err != nil {
		return err
	}
	var unit []byte
	var err error
	if s.opts.System {
		unit, err = RenderSystemUnit(s.opts)
		if err == nil {
			err = s.prepareAuthDir()
		}
	} else {
		unit, err = RenderUserUnit(s.opts)
	}
	if err != nil {
		return err
	}
	path := s.unitPath()
	existed := fileExists(path)
	changed, err := writeIfChanged(path, unit, 0o644)
	if err != nil {
		return err
	}
	if err := s.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	if err := s.systemctl(ctx, "enable", "--now", unitName); err != nil {
		return err
	}
	// enable --now leaves a running daemon alone; a new unit (another
	// binary, other paths) must reach it.
	if changed && existed {
		if err := s.systemctl(ctx, "try-restart", unitName); err != nil {
			return err
		}
	}
	s.printInstalled(existed, changed)
	return nil
}

// prepareAuthDir creates the auth-file directory for a system service,
// owned by its user: with ProtectHome=read-only the daemon cannot create it,
// and ReadWritePaths= on a missing directory fails the start.
func (s *systemd) prepareAuthDir() error {
	u, err := s.e.lookupUser(s.opts.User)
	if err != nil {
		return fmt.Errorf("packaging: user %s: %w", s.opts.User, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("packaging: user %s: %w", s.opts.User, err)
	}
	dir := filepath.Dir(s.opts.AuthFile)
	if fileExists(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("packaging: auth directory: %w", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("packaging: auth directory: %w", err)
	}
	return nil
}

func (s *systemd) printInstalled(existed, changed bool) {
	out := s.opts.out()
	printInstallResult(out, s.describe(), existed, changed, "restarted if it was running")
	if s.opts.System {
		fmt.Fprintf(out, "credpool is enabled and started; it runs as %s from boot.\n\nNext steps:\n", s.opts.User)
		fmt.Fprintln(out, "  credpool service status             is it running, does the socket answer?")
		fmt.Fprintln(out, "  journalctl -u credpool -f           follow its log")
		fmt.Fprintf(out, "  export %s=%s   in %s's shell profile, so the CLI and agents find it\n", paths.SocketEnv, orDefault(s.opts.Socket, DefaultSystemSocket), s.opts.User)
		return
	}
	fmt.Fprintln(out, "credpool is enabled and started; it starts again at every login.\n\nNext steps:")
	fmt.Fprintln(out, "  credpool service status             is it running, does the socket answer?")
	fmt.Fprintln(out, "  journalctl --user -u credpool -f    follow its log")
	fmt.Fprintln(out, "  loginctl enable-linger $USER        keep it running with no login session (and start it at boot)")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *systemd) uninstall(ctx context.Context) error {
	path := s.unitPath()
	if !fileExists(path) {
		fmt.Fprintf(s.opts.out(), "credpool service is not installed (%s).\n", s.describe())
		return nil
	}
	if err := s.checkBus(); err != nil {
		return err
	}
	if err := s.systemctl(ctx, "disable", "--now", unitName); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := s.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	fmt.Fprintf(s.opts.out(), "Stopped, disabled and removed %s.\n", s.describe())
	return nil
}

func (s *systemd) start(ctx context.Context) error   { return s.simple(ctx, "start") }
func (s *systemd) stop(ctx context.Context) error    { return s.simple(ctx, "stop") }
func (s *systemd) restart(ctx context.Context) error { return s.simple(ctx, "restart") }

func (s *systemd) simple(ctx context.Context, verb string) error {
	if err := s.requireInstalled(); err != nil {
		return err
	}
	if err := s.checkBus(); err != nil {
		return err
	}
	return s.systemctl(ctx, verb, unitName)
}

func (s *systemd) requireInstalled() error {
	if fileExists(s.unitPath()) {
		return nil
	}
	return notInstalled(s.describe(), s.opts.System)
}

func (s *systemd) status(ctx context.Context) (serviceState, error) {
	if err := s.requireInstalled(); err != nil {
		return "", err
	}
	if err := s.checkBus(); err != nil {
		return "", err
	}
	out, _, err := s.systemctlOutput(ctx, "is-active", unitName)
	if err != nil {
		return "", err
	}
	// is-active exits non-zero for every state but active; its word is the
	// answer.
	switch word := strings.TrimSpace(out); word {
	case "active", "activating", "reloading", "refreshing":
		return stateRunning, nil
	case "failed":
		return stateFailed, nil
	case "inactive", "deactivating":
		return stateStopped, nil
	default:
		return "", fmt.Errorf("packaging: %s is-active: %q", s.scope(), word)
	}
}

// systemctl runs one systemctl command and turns failure into an error that
// carries systemctl's own words.
func (s *systemd) systemctl(ctx context.Context, args ...string) error {
	out, code, err := s.systemctlOutput(ctx, args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("packaging: %s %s: exit %d: %s", s.scope(), strings.Join(args, " "), code, strings.TrimSpace(out))
	}
	return nil
}

func (s *systemd) systemctlOutput(ctx context.Context, args ...string) (string, int, error) {
	if !s.opts.System {
		args = append([]string{"--user"}, args...)
	}
	out, code, err := s.e.run(ctx, "systemctl", args...)
	if err != nil {
		return out, code, err
	}
	if code != 0 && !s.opts.System && strings.Contains(out, "Failed to connect to") && strings.Contains(out, "bus") {
		return out, code, s.noBus(strings.TrimSpace(out))
	}
	return out, code, nil
}

// checkBus finds out, before systemctl --user prints a D-Bus error, whether
// a user manager can be reached at all.
func (s *systemd) checkBus() error {
	if s.opts.System {
		return nil
	}
	if s.e.uid == 0 && s.e.getenv("SUDO_USER") != "" {
		return s.noBus("running under sudo, which is root's session, not " + s.e.getenv("SUDO_USER") + "'s")
	}
	if s.e.getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	runtimeDir := s.e.getenv("XDG_RUNTIME_DIR")
	if runtimeDir == "" {
		return s.noBus("XDG_RUNTIME_DIR is not set")
	}
	if !fileExists(filepath.Join(runtimeDir, "bus")) && !fileExists(filepath.Join(runtimeDir, "systemd", "private")) {
		return s.noBus("no user manager listens in " + runtimeDir)
	}
	return nil
}

func (s *systemd) noBus(why string) error {
	name := s.e.getenv("SUDO_USER")
	if name == "" {
		name = s.e.getenv("USER")
	}
	if name == "" {
		name = "USER"
	}
	uid := strconv.Itoa(s.e.uid)
	if u, err := s.e.lookupUser(name); err == nil {
		uid = u.Uid
	}
	return fmt.Errorf("packaging: %w (%s): log in as %s directly (not with sudo or su); "+
		"or run `loginctl enable-linger %s` and `export XDG_RUNTIME_DIR=/run/user/%s`; "+
		"or install a system service: `sudo credpool service install --system --user %s`",
		ErrNoUserBus, why, name, name, uid, name)
}
