package packaging

import (
	"bytes"
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeManager stands in for systemctl and launchctl: it keeps the state a
// real service manager would (unit known, enabled, active) and records every
// command line.
type fakeManager struct {
	calls    []string
	active   bool
	enabled  bool
	loaded   bool // launchd
	restarts int
	// busError makes every systemctl --user call fail as with no user bus.
	busError bool
	// isActive overrides the answer of is-active when set.
	isActive string
}

func (f *fakeManager) run(_ context.Context, name string, args ...string) (string, int, error) {
	line := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, line)
	if name == "systemctl" {
		if f.busError && args[0] == "--user" {
			return "Failed to connect to bus: No medium found\n", 1, nil
		}
		verb := strings.TrimPrefix(line, "systemctl ")
		verb = strings.TrimPrefix(verb, "--user ")
		switch {
		case verb == "daemon-reload":
		case verb == "enable --now credpool.service":
			f.enabled, f.active = true, true
		case verb == "disable --now credpool.service":
			f.enabled, f.active = false, false
		case verb == "start credpool.service":
			f.active = true
		case verb == "stop credpool.service":
			f.active = false
		case verb == "restart credpool.service":
			f.active = true
			f.restarts++
		case verb == "try-restart credpool.service":
			if f.active {
				f.restarts++
			}
		case verb == "is-active credpool.service":
			if f.isActive != "" {
				return f.isActive + "\n", 3, nil
			}
			if f.active {
				return "active\n", 0, nil
			}
			return "inactive\n", 3, nil
		default:
			return "Unknown command verb " + verb + "\n", 1, nil
		}
		return "", 0, nil
	}
	switch args[0] {
	case "print":
		if !f.loaded {
			return "Could not find service in domain\n", 113, nil
		}
		return "gui/501/" + LaunchdLabel + " = {\n\tstate = running\n\tpid = 42\n}\n", 0, nil
	case "bootstrap":
		if f.loaded {
			return "Bootstrap failed: 5: Input/output error\n", 5, nil
		}
		f.loaded = true
	case "bootout":
		if !f.loaded {
			return "Boot-out failed: 3: No such process\n", 3, nil
		}
		f.loaded = false
	case "kickstart":
		f.restarts++
	case "enable":
	default:
		return "Unrecognized subcommand\n", 64, nil
	}
	return "", 0, nil
}

type testHost struct {
	env     hostEnv
	fake    *fakeManager
	home    string
	runtime string
	binary  string
	vars    map[string]string
}

// newTestHost builds a host with a temporary home, a user runtime directory
// that has a bus socket file, and a real executable to install.
func newTestHost(t *testing.T, goos string) *testHost {
	t.Helper()
	base := t.TempDir()
	h := &testHost{fake: &fakeManager{}, home: filepath.Join(base, "home"), runtime: filepath.Join(base, "run")}
	require.NoError(t, os.MkdirAll(h.home, 0o700))
	require.NoError(t, os.MkdirAll(h.runtime, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(h.runtime, "bus"), nil, 0o600))
	h.binary = writeExecutable(t, filepath.Join(base, "bin", "credpool"))
	h.vars = map[string]string{"XDG_RUNTIME_DIR": h.runtime, "USER": "alice"}
	me, err := user.Current()
	require.NoError(t, err)
	h.env = hostEnv{
		root:    filepath.Join(base, "root"),
		goos:    goos,
		uid:     1000,
		home:    h.home,
		tempDir: filepath.Join(base, "no-such-tmp"), // t.TempDir itself is under os.TempDir
		getenv:  func(k string) string { return h.vars[k] },
		run:     h.fake.run,
		lookupUser: func(name string) (*user.User, error) {
			return &user.User{Username: name, Uid: "1000", Gid: me.Gid, HomeDir: h.home}, nil
		},
	}
	return h
}

func writeExecutable(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755))
	return path
}

func (h *testHost) control(t *testing.T, action string, opts Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	if opts.BinaryPath == "" {
		opts.BinaryPath = h.binary
	}
	err := control(context.Background(), action, opts, h.env)
	return out.String(), err
}

func (h *testHost) userUnitPath() string {
	return filepath.Join(h.home, ".config", "systemd", "user", "credpool.service")
}

func TestInstallRefusesTemporaryBinary(t *testing.T) {
	h := newTestHost(t, "linux")
	tmp := t.TempDir()
	tests := []struct {
		name    string
		binary  string
		tempDir string
		refused bool
	}{
		{"go run build dir", writeExecutable(t, filepath.Join(tmp, "go-build2871/b001/exe/credpool")), "/nonexistent", true},
		{"under the temp dir", writeExecutable(t, filepath.Join(tmp, "x", "credpool")), tmp, true},
		{"installed binary", h.binary, "/nonexistent", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.env.tempDir = tt.tempDir
			h.fake.calls = nil
			_, err := h.control(t, ActionInstall, Options{BinaryPath: tt.binary})
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrTemporaryBinary)
			assert.Contains(t, err.Error(), "go install")
			assert.Contains(t, err.Error(), ".deb")
			assert.Empty(t, h.fake.calls, "nothing may reach systemctl")
		})
	}
}

func TestInstallIsIdempotentAndFollowsTheBinary(t *testing.T) {
	h := newTestHost(t, "linux")
	opts := Options{AuthFile: "/home/alice/.hermes/auth.json", Socket: "/run/user/1000/credpool/credpool.sock"}

	out, err := h.control(t, ActionInstall, opts)
	require.NoError(t, err)
	want, err := RenderUserUnit(Options{BinaryPath: h.binary, AuthFile: opts.AuthFile, Socket: opts.Socket})
	require.NoError(t, err)
	got, err := os.ReadFile(h.userUnitPath())
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Equal(t, []string{
		"systemctl --user daemon-reload",
		"systemctl --user enable --now credpool.service",
	}, h.fake.calls)
	assert.True(t, h.fake.active)
	assert.Contains(t, out, "Installed user unit")
	assert.Contains(t, out, "loginctl enable-linger")

	// Twice: nothing changes, nothing restarts.
	h.fake.calls = nil
	out, err = h.control(t, ActionInstall, opts)
	require.NoError(t, err)
	assert.Contains(t, out, "up to date")
	assert.NotContains(t, h.fake.calls, "systemctl --user try-restart credpool.service")
	assert.Equal(t, 0, h.fake.restarts)

	// A new binary rewrites the unit and reaches the running daemon.
	moved := writeExecutable(t, filepath.Join(t.TempDir(), "v2", "credpool"))
	h.fake.calls = nil
	out, err = h.control(t, ActionInstall, Options{BinaryPath: moved, AuthFile: opts.AuthFile, Socket: opts.Socket})
	require.NoError(t, err)
	got, err = os.ReadFile(h.userUnitPath())
	require.NoError(t, err)
	assert.Contains(t, string(got), "ExecStart="+moved+" daemon\n")
	assert.Contains(t, out, "Updated")
	assert.Equal(t, []string{
		"systemctl --user daemon-reload",
		"systemctl --user enable --now credpool.service",
		"systemctl --user try-restart credpool.service",
	}, h.fake.calls)
	assert.Equal(t, 1, h.fake.restarts)
}

func TestUserUnitHonoursXDGConfigHome(t *testing.T) {
	h := newTestHost(t, "linux")
	h.vars["XDG_CONFIG_HOME"] = filepath.Join(h.home, "cfg")
	_, err := h.control(t, ActionInstall, Options{})
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(h.home, "cfg", "systemd", "user", "credpool.service"))
	assert.NoFileExists(t, h.userUnitPath())
}

func TestNoUserBus(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(h *testHost)
		wantWhy   string
		reachesSC bool
	}{
		{"no XDG_RUNTIME_DIR", func(h *testHost) { delete(h.vars, "XDG_RUNTIME_DIR") }, "XDG_RUNTIME_DIR is not set", false},
		{"under sudo", func(h *testHost) { h.env.uid = 0; h.vars["SUDO_USER"] = "alice" }, "sudo", false},
		{"runtime dir without manager", func(h *testHost) { require.NoError(t, os.Remove(filepath.Join(h.runtime, "bus"))) }, "no user manager", false},
		{"systemctl cannot reach the bus", func(h *testHost) { h.fake.busError = true }, "Failed to connect to bus", true},
	}
	for _, tt := range tests {
		for _, action := range []string{ActionInstall, ActionStart, ActionStatus} {
			t.Run(tt.name+"/"+action, func(t *testing.T) {
				h := newTestHost(t, "linux")
				if action != ActionInstall {
					require.NoError(t, os.MkdirAll(filepath.Dir(h.userUnitPath()), 0o755))
					require.NoError(t, os.WriteFile(h.userUnitPath(), []byte("[Unit]\n"), 0o644))
				}
				tt.setup(h)
				_, err := h.control(t, action, Options{})
				require.ErrorIs(t, err, ErrNoUserBus)
				msg := err.Error()
				assert.Contains(t, msg, tt.wantWhy)
				assert.Contains(t, msg, "loginctl enable-linger alice")
				assert.Contains(t, msg, "--system --user alice")
				assert.Contains(t, msg, "XDG_RUNTIME_DIR=/run/user/1000")
				if !tt.reachesSC {
					assert.Empty(t, h.fake.calls, "the bus problem must be found before systemctl runs")
				}
			})
		}
	}
}

func TestStatus(t *testing.T) {
	probeOK := func(context.Context) error { return nil }
	probeDown := func(context.Context) error { return os.ErrNotExist }
	tests := []struct {
		name      string
		installed bool
		isActive  string
		probe     func(context.Context) error
		wantErr   error
		wantOut   []string
	}{
		{"not installed", false, "", probeDown, ErrNotInstalled, []string{"service: not installed", "socket:  not answering"}},
		{"running and answering", true, "active", probeOK, nil, []string{"service: installed (user unit", "state:   running", "socket:  answering"}},
		{"running, socket silent", true, "active", probeDown, os.ErrNotExist, []string{"state:   running", "socket:  not answering: file does not exist"}},
		{"stopped", true, "inactive", probeDown, ErrNotRunning, []string{"state:   stopped"}},
		{"failed", true, "failed", nil, ErrNotRunning, []string{"state:   failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t, "linux")
			if tt.installed {
				_, err := h.control(t, ActionInstall, Options{})
				require.NoError(t, err)
			}
			if tt.isActive != "active" {
				h.fake.isActive = tt.isActive
			}
			out, err := h.control(t, ActionStatus, Options{Probe: tt.probe})
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestUninstallAndActionsOnMissingService(t *testing.T) {
	h := newTestHost(t, "linux")
	for _, action := range []string{ActionStart, ActionStop, ActionRestart} {
		_, err := h.control(t, action, Options{})
		assert.ErrorIs(t, err, ErrNotInstalled, action)
	}
	_, err := h.control(t, ActionInstall, Options{})
	require.NoError(t, err)
	for _, action := range []string{ActionStop, ActionStart, ActionRestart} {
		_, err := h.control(t, action, Options{})
		require.NoError(t, err, action)
	}
	assert.Contains(t, h.fake.calls, "systemctl --user stop credpool.service")
	assert.Equal(t, 1, h.fake.restarts)

	h.fake.calls = nil
	out, err := h.control(t, ActionUninstall, Options{})
	require.NoError(t, err)
	assert.NoFileExists(t, h.userUnitPath())
	assert.Equal(t, []string{"systemctl --user disable --now credpool.service", "systemctl --user daemon-reload"}, h.fake.calls)
	assert.False(t, h.fake.active)
	assert.Contains(t, out, "removed")

	out, err = h.control(t, ActionUninstall, Options{})
	require.NoError(t, err, "uninstalling twice is fine")
	assert.Contains(t, out, "not installed")
}

func TestSystemInstall(t *testing.T) {
	h := newTestHost(t, "linux")
	auth := filepath.Join(t.TempDir(), "alice", ".config", "credpool", "auth.json")
	opts := Options{System: true, User: "alice", AuthFile: auth}

	_, err := h.control(t, ActionInstall, opts)
	assert.ErrorContains(t, err, "needs root")

	h.env.uid = 0
	delete(h.vars, "XDG_RUNTIME_DIR") // a system service needs no user bus
	out, err := h.control(t, ActionInstall, opts)
	require.NoError(t, err)
	unit, err := os.ReadFile(filepath.Join(h.env.root, "etc", "systemd", "system", "credpool.service"))
	require.NoError(t, err)
	assert.Contains(t, string(unit), "User=alice\n")
	assert.Contains(t, string(unit), "ReadWritePaths="+filepath.Dir(auth)+"\n")
	info, err := os.Stat(filepath.Dir(auth))
	require.NoError(t, err, "the auth directory is created for ReadWritePaths")
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	assert.Equal(t, []string{"systemctl daemon-reload", "systemctl enable --now credpool.service"}, h.fake.calls)
	assert.Contains(t, out, "CREDPOOL_SOCKET="+DefaultSystemSocket)

	_, err = h.control(t, ActionInstall, Options{System: true, AuthFile: auth})
	assert.ErrorIs(t, err, ErrInvalidOption, "no user")
}

func TestLaunchd(t *testing.T) {
	h := newTestHost(t, "darwin")
	h.env.uid = 501
	logDir := filepath.Join(h.home, "Library", "Logs", "credpool")
	plist := filepath.Join(h.home, "Library", "LaunchAgents", LaunchdLabel+".plist")
	target := "gui/501/" + LaunchdLabel
	opts := Options{LogDir: logDir}

	_, err := h.control(t, ActionStart, opts)
	require.ErrorIs(t, err, ErrNotInstalled)

	out, err := h.control(t, ActionInstall, opts)
	require.NoError(t, err)
	assert.FileExists(t, plist)
	assert.DirExists(t, logDir)
	assert.Equal(t, []string{
		"launchctl print " + target,
		"launchctl enable " + target,
		"launchctl bootstrap gui/501 " + plist,
	}, h.fake.calls)
	assert.Contains(t, out, "Installed LaunchAgent")

	h.fake.calls = nil
	_, err = h.control(t, ActionInstall, opts)
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(h.fake.calls, "\n"), "bootstrap", "an unchanged, loaded job is left alone")

	h.fake.calls = nil
	moved := writeExecutable(t, filepath.Join(t.TempDir(), "credpool"))
	_, err = h.control(t, ActionInstall, Options{LogDir: logDir, BinaryPath: moved})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"launchctl print " + target,
		"launchctl bootout " + target,
		"launchctl enable " + target,
		"launchctl bootstrap gui/501 " + plist,
	}, h.fake.calls)

	out, err = h.control(t, ActionStatus, opts)
	require.NoError(t, err)
	assert.Contains(t, out, "state:   running")

	_, err = h.control(t, ActionRestart, opts)
	require.NoError(t, err)
	assert.Contains(t, h.fake.calls, "launchctl kickstart -k "+target)

	_, err = h.control(t, ActionStop, opts)
	require.NoError(t, err)
	assert.False(t, h.fake.loaded)
	out, err = h.control(t, ActionStatus, opts)
	assert.ErrorIs(t, err, ErrNotRunning)
	assert.Contains(t, out, "state:   stopped")

	_, err = h.control(t, ActionStart, opts)
	require.NoError(t, err)
	assert.True(t, h.fake.loaded)

	_, err = h.control(t, ActionUninstall, opts)
	require.NoError(t, err)
	assert.NoFileExists(t, plist)
	assert.False(t, h.fake.loaded)
}

func TestControlRefusals(t *testing.T) {
	h := newTestHost(t, "linux")
	_, err := h.control(t, "reload", Options{})
	assert.ErrorIs(t, err, ErrUnknownAction)

	h.env.goos = "plan9"
	_, err = h.control(t, ActionStatus, Options{})
	assert.ErrorIs(t, err, ErrUnsupportedOS)

	h.env.goos = "linux"
	_, err = h.control(t, ActionInstall, Options{BinaryPath: filepath.Dir(h.binary)})
	assert.ErrorIs(t, err, ErrInvalidOption, "a directory is not a binary")
}

func TestIsTemporaryBinary(t *testing.T) {
	tmp := t.TempDir()
	link := filepath.Join(tmp, "credpool")
	require.NoError(t, os.Symlink(writeExecutable(t, filepath.Join(tmp, "go-build1", "exe", "credpool")), link))
	tests := []struct {
		path, tempDir string
		want          bool
	}{
		{"/tmp/go-build3141/b001/exe/credpool", "/tmp", true},
		{"/var/folders/x/T/go-build99/b001/exe/credpool", "/elsewhere", true},
		{"/tmp/credpool", "/tmp", true},
		{"/tmpfoo/credpool", "/tmp", false},
		{"/usr/bin/credpool", "/tmp", false},
		{"/home/a/go/bin/credpool", "/tmp", false},
		{link, "/elsewhere", true}, // a symlink into go run's directory
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, isTemporaryBinary(tt.path, tt.tempDir))
		})
	}
}

// TestWriteIfChanged: the unit file is replaced whole (atomicfile), with
// the mode asked for whatever the umask, leaves no temp file, and an
// unchanged one is not written again.
func TestWriteIfChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "systemd", "user", "credpool.service")
	changed, err := writeIfChanged(path, []byte("[Unit]\nA=1\n"), 0o644)
	require.NoError(t, err)
	assert.True(t, changed)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	changed, err = writeIfChanged(path, []byte("[Unit]\nA=1\n"), 0o644)
	require.NoError(t, err)
	assert.False(t, changed, "same bytes: not written")

	changed, err = writeIfChanged(path, []byte("[Unit]\nA=2\n"), 0o644)
	require.NoError(t, err)
	assert.True(t, changed)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "[Unit]\nA=2\n", string(got))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temp file left")
}
