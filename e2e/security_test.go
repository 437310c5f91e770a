package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// peerProbe connects to the socket given as argv[1], sends GET /v1/health
// and reports what came back: "closed N" (EOF after N bytes), "reset N" or
// "timeout N", then the bytes.
const peerProbe = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
print("uid", os.getuid(), "connected", flush=True)
try:
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: credpool\r\nConnection: close\r\n\r\n")
except OSError as e:
    print("send-failed", type(e).__name__)
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print("closed", len(data))
except socket.timeout:
    print("timeout", len(data))
except OSError as e:
    print("reset", len(data), type(e).__name__)
sys.stdout.write(data.decode(errors="replace"))
`

// asNobody is the command prefix that runs a program as nobody, or a reason
// to skip.
func asNobody() ([]string, string) {
	if os.Geteuid() != 0 {
		return nil, "needs root to run a client as another uid (CI runs as root)"
	}
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--reuid=nobody", "--regid=nogroup", "--clear-groups"}, ""
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		return []string{p, "-u", "nobody", "--"}, ""
	}
	return nil, "neither setpriv nor runuser (util-linux) is installed"
}

// pythonForNobody is a python3 that nobody can run (a python under /root,
// e.g. pyenv's, is not).
func pythonForNobody(t *testing.T, prefix []string) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3", "/usr/local/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if exec.Command(prefix[0], append(prefix[1:], py, "-c", "print(1)")...).Run() == nil {
			return py
		}
	}
	t.Skip("no python3 that the nobody user can run")
	return ""
}

// Another uid is refused before a byte is read, even when the file modes
// would let it in: the peer-credential check alone keeps it out.
func TestOtherUIDIsRefused(t *testing.T) {
	t.Parallel()
	prefix, why := asNobody()
	if why != "" {
		t.Skip(why)
	}
	py := pythonForNobody(t, prefix)
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	for dir := filepath.Dir(h.Dir); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s (above the test's temp dir) is not traversable by others; set TMPDIR to a dir like /tmp", dir)
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}

	// Open the way for nobody: traversable dirs, a world-writable socket.
	for dir := filepath.Dir(h.Socket); ; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
		if dir == h.Dir {
			break
		}
	}
	require.NoError(t, os.Chmod(h.Socket, 0o666))

	probe := func(cmd []string) string {
		out, err := exec.Command(cmd[0], append(cmd[1:], py, "-c", peerProbe, h.Socket)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	// Control: as root (allowed), the same probe gets an answer.
	out := probe([]string{"env"})
	require.Contains(t, out, "HTTP/1.1 200", "the probe works for an allowed peer: %s", out)

	out = probe(prefix)
	assert.Contains(t, out, "uid 65534 connected", "file modes let nobody connect: %s", out)
	assert.Regexp(t, `(?m)^(closed|reset) 0\b`, out, "the connection is closed without an answer: %s", out)
	assert.NotContains(t, out, "HTTP/1.1")
	daemontest.Eventually(t, "the refusal is logged", func() bool {
		return strings.Contains(h.Stderr.String(), "refused a connection from another user")
	})
	assert.Contains(t, h.Stderr.String(), "uid=65534")
	assert.Equal(t, "ok", h.health().Status, "the daemon serves on")
}

// The socket is 0600 from the moment it exists: an inotify watch on the
// socket's directory stats every new file on IN_CREATE during several
// start-ups, and a tight loop stats the socket path meanwhile.
func TestSocketNeverWiderThan0600(t *testing.T) {
	t.Parallel()
	dir := testio.ShortTempDir(t)
	run := filepath.Join(dir, "run")
	require.NoError(t, os.Mkdir(run, 0o700))
	sock := filepath.Join(run, "credpool.sock")

	w, err := fsnotify.NewWatcher()
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Add(run))

	var mu sync.Mutex
	var wide []string
	created, createStats, polled := 0, 0, 0
	check := func(how, path string) bool {
		fi, err := os.Lstat(path)
		if err != nil {
			return false // gone again (a temp file)
		}
		mu.Lock()
		defer mu.Unlock()
		if fi.Mode().Perm()&0o077 != 0 {
			wide = append(wide, fmt.Sprintf("%s: %s is %v", how, filepath.Base(path), fi.Mode()))
		}
		return true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case ev := <-w.Events:
				if !ev.Has(fsnotify.Create) {
					continue
				}
				statted := check("IN_CREATE", ev.Name)
				if ev.Name == sock {
					mu.Lock()
					created++
					if statted {
						createStats++
					}
					mu.Unlock()
				}
			case <-w.Errors:
			case <-stop:
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if check("poll", sock) {
				mu.Lock()
				polled++
				mu.Unlock()
			}
		}
	}()

	// Each start waits until the watcher has handled its IN_CREATE, so the
	// stat happens while the socket is there.
	seen := func(n int) {
		daemontest.Eventually(t, fmt.Sprintf("IN_CREATE of start %d", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return created >= n
		})
	}
	h := start(t, secretFixture(t, nil), daemontest.Options{Dir: dir})
	seen(1)
	const starts = 5
	for i := 2; i <= starts; i++ {
		require.NoError(t, h.Stop())
		require.NoError(t, h.Restart())
		seen(i)
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, wide, "a file in the socket directory was wider than 0600")
	assert.Positive(t, createStats, "no IN_CREATE stat caught the socket")
	assert.Positive(t, polled, "the tight loop saw the socket")
	fi, err := os.Stat(run)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "socket directory mode")
	fi, err = os.Lstat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "socket mode")
}

// rawExchange sends raw request bytes on a fresh connection and returns what
// came back before the daemon closed it or 10 s passed.
func rawExchange(t *testing.T, socket string, req []byte) string {
	t.Helper()
	c, err := net.Dial("unix", socket)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	go func() { _, _ = c.Write(req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// Hostile HTTP from a local process: browser headers, a huge body, a slow
// client.
func TestHostileHTTP(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	countEntries := func() int {
		v, err := h.Client.Pool(bg, "openrouter")
		require.NoError(t, err)
		return len(v.Entries)
	}
	entries := countEntries()

	t.Run("browser headers get 403", func(t *testing.T) {
		for _, hdr := range []string{"Origin: http://evil.example", "Referer: http://evil.example/page", "Origin: null"} {
			for _, req := range []string{
				"GET /v1/health HTTP/1.1\r\nHost: credpool\r\n" + hdr + "\r\nConnection: close\r\n\r\n",
				"POST /v1/pools/openrouter/select HTTP/1.1\r\nHost: credpool\r\n" + hdr + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
			} {
				got := rawExchange(t, h.Socket, []byte(req))
				assert.True(t, strings.HasPrefix(got, "403 "), "%q → %s", req, got)
				assert.Contains(t, got, `"forbidden"`)
				daemontest.NoSecret(t, "403 answer", got)
			}
		}
	})

	t.Run("a body over 1 MiB gets 413", func(t *testing.T) {
		big := `{"access_token": "sk-SECRET-big-` + strings.Repeat("a", socketapi.MaxBodyBytes) + `"}`
		// With a Content-Length, and chunked (length unknown up front).
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(strings.NewReader(big))
			}
			req, err := http.NewRequest(http.MethodPost, "http://credpool/v1/pools/openrouter/entries", body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.http.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "chunked=%v: %s", chunked, excerpt(b))
			daemontest.NoSecret(t, "413 answer", string(b))
		}
		assert.Equal(t, entries, countEntries(), "nothing was added")
	})

	t.Run("a slow-header client is cut off", func(t *testing.T) {
		t.Parallel()
		c, err := net.Dial("unix", h.Socket)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("GET /v1/health HTTP/1.1\r\n"))
		require.NoError(t, err)
		got := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(c) // until the daemon closes the connection
			got <- string(b)
		}()
		// Dribble a header line every 200 ms; the daemon's
		// ReadHeaderTimeout (5 s) must end this well within 15 s.
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(15 * time.Second)
		for i := 0; ; i++ {
			select {
			case b := <-got:
				assert.NotContains(t, b, "200 OK", "a request that never ended was answered")
				return
			case <-tick.C:
				_, _ = fmt.Fprintf(c, "X-Slow-%d: x\r\n", i)
			case <-deadline:
				t.Fatal("a slow-header client was not cut off within 15 s")
			}
		}
	})
}

// 5,000 idle connections do not stop the daemon answering a new client.
func TestManyIdleConnections(t *testing.T) {
	t.Parallel()
	const idle = 5000
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	// Both ends of every connection need a descriptor: ours here, the
	// daemon's (it inherits this limit, and Go raises its soft limit too).
	need := uint64(idle + 2000)
	if lim.Max < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d this test needs", lim.Max, need)
	}
	if lim.Cur < need {
		lim.Cur = min(lim.Max, 4*need)
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	}
	h := start(t, secretFixture(t, nil), daemontest.Options{})

	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for len(conns) < idle {
		c, err := net.Dial("unix", h.Socket)
		if errors.Is(err, syscall.EAGAIN) {
			time.Sleep(time.Millisecond) // the accept backlog is full for a moment
			continue
		}
		require.NoError(t, err, "connection %d", len(conns))
		conns = append(conns, c)
	}
	// A new client, while all of them are held open.
	fresh := socketapi.NewClient(h.Socket)
	defer fresh.Close()
	hl, err := fresh.Health(bg)
	require.NoError(t, err, "a new client is answered beside %d idle connections", idle)
	assert.Equal(t, "ok", hl.Status)
	sel, err := fresh.Select(bg, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	assert.NotEmpty(t, sel.Credential.ID)
	// The idle ones were still open (a read would block, not see EOF).
	require.NoError(t, conns[0].SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err = conns[0].Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Logf("the first idle connection was already closed (%v); the header timeout may have run out", err)
	}
}
