package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// providerName is the generated pool name for index i.
func providerName(i int) string { return fmt.Sprintf("bench-p%d", i) }

// genAuth builds a Hermes auth.json with providers × entries api_key entries,
// priorities 0..entries-1 in file order. authfile renders it, so the file is
// exactly what credpool itself would write.
func genAuth(providers, entries int) ([]byte, error) {
	f := authfile.New()
	n := 0
	for p := range providers {
		es := make([]pool.Entry, entries)
		for i := range es {
			tok := make([]byte, 24)
			if _, err := rand.Read(tok); err != nil {
				return nil, err
			}
			es[i] = pool.Entry{
				ID: fmt.Sprintf("%06x", n&0xffffff), Label: fmt.Sprintf("key-%d", i), AuthType: "api_key",
				Priority: i, Source: "manual", AccessToken: "sk-bench-" + hex.EncodeToString(tok),
				BaseURL: "https://api.example.invalid/v1",
			}
			n++
		}
		f.Pools[providerName(p)] = es
	}
	return f.Marshal()
}

// writeAuthFile writes data as auth.json in a new 0700 directory sub of
// dir, as a user's would be, and returns its path.
func writeAuthFile(dir, sub string, data []byte) (string, error) {
	d := filepath.Join(dir, sub)
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(d, "auth.json")
	return path, os.WriteFile(path, data, 0o600)
}

// daemonProc is the credpool child process the bench started.
type daemonProc struct {
	cmd *exec.Cmd
	// stderr is read only after the process is gone (done is closed):
	// exec copies into it until Wait returns.
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

// credpoolBinary returns bin, or builds cmd/credpool into dir. The module is
// found from the working directory upwards, then from the bench binary's
// directory.
func credpoolBinary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	root := moduleRoot()
	if root == "" {
		return "", errors.New("cannot find the credpool module to build cmd/credpool; run from inside the repository or pass --credpool-bin")
	}
	out := filepath.Join(dir, "credpool")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/credpool")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/credpool: %w\n%s", err, b)
	}
	return out, nil
}

func moduleRoot() string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && bytes.Contains(b, []byte("module github.com/credpool/credpool\n")) {
				return d
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return ""
}

// getenv reads the daemon's environment as the daemon does (of a name set
// twice, the last), so that a path derived from it (package paths) is the
// one the daemon uses.
func (d *daemonProc) getenv(name string) string {
	v := ""
	for _, kv := range d.cmd.Env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// daemonExtra is what a run adds to the daemon's command line (after the
// bench's own flags, so they win) and to its environment.
type daemonExtra struct {
	args, env []string
}

// startDaemon runs `credpool daemon` on authFile and socket and waits until
// it answers health. Its settings come only from the flags: XDG_CONFIG_HOME
// points into dir so that the user's config file is not read.
func startDaemon(ctx context.Context, bin, dir, authFile, socket string, tick time.Duration, extra daemonExtra) (*daemonProc, error) {
	args := append([]string{"daemon", "--auth-file", authFile, "--socket", socket,
		"--tick", tick.String(), "--log-level", "warn"}, extra.args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_RUNTIME_DIR="+dir)
	cmd.Env = append(cmd.Env, extra.env...)
	d := &daemonProc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()

	c := socketapi.NewClient(socket)
	defer c.Close()
	c.DialRetry = 10 * time.Second
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	type result struct {
		h   apitype.Health
		err error
	}
	ch := make(chan result, 1)
	go func() { h, err := c.Health(hctx); ch <- result{h, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			d.stop()
			return nil, fmt.Errorf("daemon did not answer: %w\n%s", r.err, d.stderr.String())
		}
		if r.h.Status != "ok" {
			d.stop()
			return nil, fmt.Errorf("daemon is %s: %s", r.h.Status, apitype.Value(r.h.LastError))
		}
	case <-d.done:
		cancel()
		return nil, fmt.Errorf("daemon exited: %v\n%s", d.err, d.stderr.String())
	}
	return d, nil
}

func (d *daemonProc) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and waits; a daemon that does not exit in 10 s is
// killed.
func (d *daemonProc) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return errors.New("daemon did not stop on SIGTERM; killed")
	}
	var ee *exec.ExitError
	if d.err != nil && !errors.As(d.err, &ee) {
		return d.err
	}
	if d.err != nil {
		return fmt.Errorf("daemon: %w\n%s", d.err, d.stderr.String())
	}
	return nil
}

// procStats is what /proc says about a process (Linux only).
type procStats struct {
	RSS, HWM     int64   // bytes
	CPU          float64 // user + system seconds
	CtxSwitches  int64   // voluntary + involuntary, summed over threads
	Threads      int
	VoluntarySum int64
}

// clkTck is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is 100
// on every Linux that Go supports.
const clkTck = 100

func readProc(pid int) (procStats, error) {
	var s procStats
	base := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(base + "/status")
	if err != nil {
		return s, fmt.Errorf("proc stats: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "VmHWM":
			s.HWM = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	stat, err := os.ReadFile(base + "/stat")
	if err != nil {
		return s, fmt.Errorf("proc stats: %w", err)
	}
	// The command name may hold spaces and parentheses; fields start after
	// the last ')'. utime and stime are fields 14 and 15 (1-based).
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			s.CPU = float64(u+st) / clkTck
		}
	}
	tasks, _ := filepath.Glob(base + "/task/*/status")
	for _, t := range tasks {
		f, err := os.Open(t)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "voluntary_ctxt_switches":
				s.CtxSwitches += n
				s.VoluntarySum += n
			case "nonvoluntary_ctxt_switches":
				s.CtxSwitches += n
			}
		}
		f.Close()
	}
	return s, nil
}
