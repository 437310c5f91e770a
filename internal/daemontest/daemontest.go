// Package daemontest runs the real credpool binary for end-to-end, fault and
// security tests: build it once, start a daemon on a temp auth.json and
// socket, stop it with a signal or kill -9, and write auth.json the way
// Hermes does. Only tests import it.
package daemontest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/internal/testio"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// Fixture is the realistic Hermes auth.json of shared/testdata.
//
//go:embed testdata/auth.json
var Fixture []byte

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/credpool once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "credpool-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "credpool")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/credpool/credpool/cmd/credpool")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Options configure Start.
type Options struct {
	// Fixture is written to auth.json before the start; nil leaves no file.
	Fixture []byte
	// Dir holds auth.json (in Dir/hermes) and the socket (in Dir/run);
	// default a fresh ShortTempDir.
	Dir string
	// Args are extra daemon flags, e.g. "--prune-dead-after", "1s".
	Args []string
	// Env are extra environment variables.
	Env []string
	// Tick is the ticker interval; default 100ms.
	Tick string
	// Socket is where the daemon listens; default Dir/run/credpool.sock.
	Socket string
	// NoSocketFlag leaves --socket out, so that the daemon finds its socket
	// itself (from Env); Socket must then say where that is.
	NoSocketFlag bool
}

// Daemon is a running credpool daemon process.
type Daemon struct {
	t        testing.TB
	Bin      string
	Dir      string
	AuthFile string
	Socket   string
	Stderr   *testio.SyncBuffer
	Client   *socketapi.Client
	opts     Options
	cmd      *exec.Cmd
	waitErr  chan error
}

// Start starts a daemon and waits until its socket answers health. At the
// end of the test it stops the daemon if it still runs, and fails the test
// if the daemon's stderr ever held SecretMark.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = testio.ShortTempDir(t)
	}
	if opts.Tick == "" {
		opts.Tick = "100ms"
	}
	if opts.Socket == "" {
		opts.Socket = filepath.Join(opts.Dir, "run", "credpool.sock")
	}
	d := &Daemon{t: t, Bin: Binary(t), Dir: opts.Dir, opts: opts,
		AuthFile: filepath.Join(opts.Dir, "hermes", "auth.json"),
		Socket:   opts.Socket,
		Stderr:   &testio.SyncBuffer{}}
	if err := os.MkdirAll(filepath.Dir(d.AuthFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if opts.Fixture != nil {
		if err := os.WriteFile(d.AuthFile, opts.Fixture, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.Client = socketapi.NewClient(d.Socket)
	// Registered first, so it runs last: after every stop, when the
	// daemon has written all it will.
	t.Cleanup(func() { NoSecret(t, "the daemon's stderr", d.Stderr.String()) })
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.Running() {
			_ = d.Stop()
		}
	})
	return d
}

// Command is the daemon's command line, for tests that start it themselves.
func (d *Daemon) Command(extra ...string) *exec.Cmd {
	args := []string{"daemon", "--auth-file", d.AuthFile, "--tick", d.opts.Tick, "--config", filepath.Join(d.Dir, "no-config.toml")}
	if !d.opts.NoSocketFlag {
		args = append(args, "--socket", d.Socket)
	}
	args = append(args, d.opts.Args...)
	args = append(args, extra...)
	cmd := exec.Command(d.Bin, args...)
	cmd.Env = append(cleanEnv(filepath.Join(d.Dir, "home")), d.opts.Env...)
	return cmd
}

// cleanEnv keeps the daemon away from the developer's own pool and logins:
// no CREDPOOL_* or HERMES_HOME, HOME under the test's directory (home,
// which need not exist) and none of the variables that move another tool's
// home (extlogin decides which), so that a real ~/.codex or ~/.claude login
// on the machine is not followed. Options.Env comes after and wins.
func cleanEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "CREDPOOL"), name == "HERMES_HOME", name == "HOME",
			slices.Contains(extlogin.EnvVars(), name):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Restart starts the daemon process (again) and waits for health.
func (d *Daemon) Restart() error {
	// An explicit config path that does not exist is an error; write an
	// empty one so the daemon reads no user config.
	cfgPath := filepath.Join(d.Dir, "no-config.toml")
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(cfgPath, nil, 0o600); err != nil {
			return err
		}
	}
	d.cmd = d.Command()
	d.cmd.Stderr = d.Stderr
	d.cmd.Stdout = d.Stderr
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	d.waitErr = make(chan error, 1)
	cmd := d.cmd
	go func() { d.waitErr <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, err := d.Client.Health(ctx); err == nil {
			return nil
		}
		select {
		case err := <-d.waitErr:
			d.waitErr <- err
			return fmt.Errorf("daemon exited at start: %v\n%s", err, d.Stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("daemon not answering after 10s\n%s", d.Stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Running reports whether the process is still alive.
func (d *Daemon) Running() bool {
	if d.cmd == nil || d.waitErr == nil {
		return false
	}
	select {
	case err := <-d.waitErr:
		d.waitErr <- err
		return false
	default:
		return true
	}
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to 5 s; it returns the process's exit
// error (nil for exit 0).
func (d *Daemon) Stop() error { return d.StopWithin(5 * time.Second) }

// StopWithin sends SIGTERM and waits up to wait for the exit (then kills
// the daemon); it returns the process's exit error (nil for exit 0), or
// ErrNoExit when it had to be killed. A stop drains pending writes for up
// to the daemon's stop timeout, so tests of the drain wait longer.
func (d *Daemon) StopWithin(wait time.Duration) error { return d.signal(syscall.SIGTERM, wait) }

// ErrNoExit: the daemon did not exit in time after a signal.
var ErrNoExit = errors.New("daemon did not exit in time")

// Kill9 kills the daemon with SIGKILL, as a crash would.
func (d *Daemon) Kill9() { _ = d.signal(syscall.SIGKILL, 5*time.Second) }

func (d *Daemon) signal(sig syscall.Signal, wait time.Duration) error {
	if !d.Running() {
		return errors.New("daemon not running")
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case err := <-d.waitErr:
		d.waitErr <- err
		return err
	case <-time.After(wait):
		_ = d.cmd.Process.Kill()
		d.waitErr <- <-d.waitErr
		return fmt.Errorf("%w: not within %s after %s", ErrNoExit, wait, sig)
	}
}

// HermesWrite changes auth.json the way Hermes does: flock on auth.lock, read,
// change the decoded JSON, write a temp file, rename it over auth.json.
func HermesWrite(t testing.TB, path string, change func(doc map[string]any)) {
	t.Helper()
	lk := flock.New(filepath.Join(filepath.Dir(path), "auth.lock"))
	if err := lk.Lock(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lk.Unlock() }()
	doc := ReadDoc(t, path)
	change(doc)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".hermes-tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Entries returns a provider's entries of a decoded auth.json.
func Entries(doc map[string]any, provider string) []any {
	pools, _ := doc["credential_pool"].(map[string]any)
	list, _ := pools[provider].([]any)
	return list
}

// Entry returns the entry with id of a decoded auth.json, or nil.
func Entry(doc map[string]any, provider, id string) map[string]any {
	for _, e := range Entries(doc, provider) {
		if m, ok := e.(map[string]any); ok && m["id"] == id {
			return m
		}
	}
	return nil
}

// ReadDoc decodes auth.json as another process would.
func ReadDoc(t testing.TB, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("auth.json does not parse: %v", err)
	}
	return doc
}

// Eventually polls cond until it holds or 10 s pass. It waits for an
// asynchronous effect (a write, a reload); it never stands in for a TTL.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
