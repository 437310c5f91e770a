package packaging

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// launchd manages the LaunchAgent (LaunchDaemon with opts.System) through
// launchctl's bootstrap/bootout/kickstart verbs; the legacy load/unload that
// kardianos/service uses are deprecated and report errors only as text.
type launchd struct {
	opts Options
	e    hostEnv
}

func (l *launchd) plistPath() string {
	if l.opts.System {
		return filepath.Join(l.e.root, "/Library/LaunchDaemons", LaunchdLabel+".plist")
	}
	return filepath.Join(l.e.home, "Library", "LaunchAgents", LaunchdLabel+".plist")
}

// domain is the launchd domain the job lives in: the login session of the
// user (gui/UID) or the system.
func (l *launchd) domain() string {
	if l.opts.System {
		return "system"
	}
	return "gui/" + strconv.Itoa(l.e.uid)
}

func (l *launchd) target() string { return l.domain() + "/" + LaunchdLabel }

func (l *launchd) describe() string {
	if l.opts.System {
		return "LaunchDaemon " + l.plistPath()
	}
	return "LaunchAgent " + l.plistPath()
}

func (l *launchd) install(ctx context.Context) error {
	plist, err := RenderLaunchdPlist(l.opts)
	if err != nil {
		return err
	}
	logDir, err := launchdLogDir(l.opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return fmt.Errorf("packaging: log directory: %w", err)
	}
	path := l.plistPath()
	existed := fileExists(path)
	changed, err := writeIfChanged(path, plist, 0o644)
	if err != nil {
		return err
	}
	loaded := l.loaded(ctx)
	// launchd reads the plist only at bootstrap: a changed plist means
	// bootout and bootstrap again.
	if loaded && changed {
		if err := l.launchctl(ctx, "bootout", l.target()); err != nil {
			return err
		}
		loaded = false
	}
	// A job disabled by an earlier `launchctl disable` refuses bootstrap.
	if err := l.launchctl(ctx, "enable", l.target()); err != nil {
		return err
	}
	if !loaded {
		if err := l.launchctl(ctx, "bootstrap", l.domain(), path); err != nil {
			return err
		}
	}
	out := l.opts.out()
	printInstallResult(out, l.describe(), existed, changed, "reloaded")
	when := "every login"
	if l.opts.System {
		when = "boot"
	}
	fmt.Fprintf(out, "credpool is loaded and running; launchd starts it at %s and restarts it if it exits.\n\nNext steps:\n", when)
	fmt.Fprintln(out, "  credpool service status             is it running, does the socket answer?")
	fmt.Fprintf(out, "  tail -f %s   follow its log\n", filepath.Join(logDir, "credpool.err.log"))
	return nil
}

func (l *launchd) uninstall(ctx context.Context) error {
	path := l.plistPath()
	if !fileExists(path) {
		fmt.Fprintf(l.opts.out(), "credpool service is not installed (%s).\n", l.describe())
		return nil
	}
	if l.loaded(ctx) {
		if err := l.launchctl(ctx, "bootout", l.target()); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	fmt.Fprintf(l.opts.out(), "Stopped and removed %s.\n", l.describe())
	return nil
}

func (l *launchd) start(ctx context.Context) error {
	if err := l.requireInstalled(); err != nil {
		return err
	}
	if !l.loaded(ctx) {
		return l.launchctl(ctx, "bootstrap", l.domain(), l.plistPath())
	}
	return l.launchctl(ctx, "kickstart", l.target())
}

// stop boots the job out: with KeepAlive, killing it would only make
// launchd start it again. It comes back at the next login (or start).
func (l *launchd) stop(ctx context.Context) error {
	if err := l.requireInstalled(); err != nil {
		return err
	}
	if !l.loaded(ctx) {
		return nil
	}
	return l.launchctl(ctx, "bootout", l.target())
}

func (l *launchd) restart(ctx context.Context) error {
	if err := l.requireInstalled(); err != nil {
		return err
	}
	if !l.loaded(ctx) {
		return l.launchctl(ctx, "bootstrap", l.domain(), l.plistPath())
	}
	return l.launchctl(ctx, "kickstart", "-k", l.target())
}

func (l *launchd) status(ctx context.Context) (serviceState, error) {
	if err := l.requireInstalled(); err != nil {
		return "", err
	}
	out, code, err := l.e.run(ctx, "launchctl", "print", l.target())
	if err != nil {
		return "", err
	}
	if code != 0 {
		return stateStopped, nil // installed but not loaded
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "state = running" {
			return stateRunning, nil
		}
	}
	return stateStopped, nil
}

func (l *launchd) requireInstalled() error {
	if fileExists(l.plistPath()) {
		return nil
	}
	return notInstalled(l.describe(), l.opts.System)
}

func (l *launchd) loaded(ctx context.Context) bool {
	_, code, err := l.e.run(ctx, "launchctl", "print", l.target())
	return err == nil && code == 0
}

func (l *launchd) launchctl(ctx context.Context, args ...string) error {
	out, code, err := l.e.run(ctx, "launchctl", args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("packaging: launchctl %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(out))
	}
	return nil
}
