package daemontest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credpool/credpool/internal/testio"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// Proc is a helper process (a Hermes-style writer, the real Hermes pool
// code) that the test drives line by line: commands on its stdin, answers
// on its stdout.
type Proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *testio.SyncBuffer
	done   chan error
}

// StartProc starts argv with env (nil: this process's environment). At the
// end of the test its stdin is closed and it is killed if it has not
// exited 5 s later.
func StartProc(t testing.TB, env []string, argv ...string) *Proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	p := &Proc{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &testio.SyncBuffer{}, done: make(chan error, 1)}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return p
}

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Send writes one line to the process's stdin.
func (p *Proc) Send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("stdin of %s: %v; stderr:\n%s", p.cmd.Path, err, p.Stderr())
	}
}

// Expect waits for the next stdout line.
func (p *Proc) Expect(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s exited; stderr:\n%s", p.cmd.Path, p.Stderr())
		}
		return l
	case <-time.After(timeout):
		p.t.Fatalf("no line from %s after %s; stderr:\n%s", p.cmd.Path, timeout, p.Stderr())
		return ""
	}
}

// Wait closes stdin and waits for the process to exit successfully; lines
// it still prints are discarded.
func (p *Proc) Wait(timeout time.Duration) {
	p.t.Helper()
	_ = p.stdin.Close()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-p.lines:
			if ok {
				continue
			}
			select {
			case err := <-p.done:
				p.done <- err
				if err != nil {
					p.t.Fatalf("%s failed: %v; stderr:\n%s", p.cmd.Path, err, p.Stderr())
				}
				return
			case <-deadline:
			}
		case <-deadline:
		}
		p.t.Fatalf("%s still running after %s; stderr:\n%s", p.cmd.Path, timeout, p.Stderr())
	}
}

// HoldLock takes flock(LOCK_EX) on the auth.lock beside authFile from this
// process, as another writer (Hermes) holds it, and returns the lock file
// (a test may write a pid into it, as Hermes does) and the release. The
// end of the test releases it too.
func HoldLock(t testing.TB, authFile string) (*os.File, func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(filepath.Dir(authFile), "auth.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			_ = f.Close()
		})
	}
	t.Cleanup(release)
	return f, release
}

// Metric is the value of an unlabelled series of the daemon's /metrics.
func Metric(t testing.TB, c *socketapi.Client, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	text, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in /metrics", name)
	return 0
}
