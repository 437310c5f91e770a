package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
)

func randHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// accessToken and refreshToken are distinctive fake secrets, holding
// daemontest.SecretMark.
func accessToken(t testing.TB) string  { return "sk-" + daemontest.SecretMark + "-e2e-" + randHex(t) }
func refreshToken(t testing.TB) string { return "rt-" + daemontest.SecretMark + "-" + randHex(t) }

// decode reads JSON keeping numbers as their literal text, so equality checks
// also catch a changed representation (1.0 written back as 1).
func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc), "decode %q", excerpt(raw))
	return doc
}

// secretFixture is daemontest.Fixture with every token replaced by a
// distinctive fake secret (an alias keeps being an alias: equal tokens get
// the same replacement). change, if not nil, edits the decoded document
// before it is encoded.
func secretFixture(t testing.TB, change func(doc map[string]any)) []byte {
	t.Helper()
	doc := decode(t, daemontest.Fixture)
	daemontest.MarkSecrets(doc, func(field, _ string) string {
		if field == "access_token" {
			return accessToken(t)
		}
		return refreshToken(t)
	})
	if change != nil {
		change(doc)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out
}

// entryOf is the entry with id in a decoded auth.json; it fails the test when
// there is none.
func entryOf(t testing.TB, doc map[string]any, provider, id string) map[string]any {
	t.Helper()
	e := daemontest.Entry(doc, provider, id)
	require.NotNil(t, e, "entry %s/%s", provider, id)
	return e
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// harness is a running daemon with the e2e tests' extras: a raw HTTP client
// for byte-exact answers and the command line.
type harness struct {
	*daemontest.Daemon
	t    testing.TB
	http *http.Client
}

// start starts the real daemon on fixture. At the end of the test it stops
// the daemon (SIGTERM must exit 0); daemontest.Start then checks that no
// secret ever reached its stderr.
func start(t testing.TB, fixture []byte, opts daemontest.Options) *harness {
	t.Helper()
	opts.Fixture = fixture
	d := daemontest.Start(t, opts)
	h := &harness{Daemon: d, t: t, http: unixHTTP(d.Socket)}
	t.Cleanup(func() {
		if d.Running() {
			assert.NoError(t, d.Stop(), "SIGTERM must give exit 0")
		}
		h.http.CloseIdleConnections()
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", d.Stderr.String())
		}
	})
	return h
}

func unixHTTP(socket string) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// call sends a request and returns the status and the answer's bytes.
func (h *harness) call(method, path, body string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://credpool"+path, rd)
	require.NoError(h.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	require.NoError(h.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, b
}

// health is the daemon's health, or a zero value when it does not answer.
func (h *harness) health() apitype.Health {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hl, _ := h.Client.Health(ctx)
	return hl
}

func (h *harness) disk() map[string]any { return daemontest.ReadDoc(h.t, h.AuthFile) }

// paths is where a command line looks: what --auth-file, --socket and
// --config say.
type paths struct{ auth, socket, config, home string }

func (h *harness) paths() paths {
	return paths{auth: h.AuthFile, socket: h.Socket, config: filepath.Join(h.Dir, "no-config.toml"), home: h.Dir}
}

// offlinePaths are paths for a command line with no daemon: an auth.json
// (holding fixture unless nil), a socket path nobody listens on and an empty
// config.
func offlinePaths(t testing.TB, fixture []byte) paths {
	t.Helper()
	dir := testio.ShortTempDir(t)
	p := paths{auth: filepath.Join(dir, "hermes", "auth.json"), socket: filepath.Join(dir, "run", "credpool.sock"),
		config: filepath.Join(dir, "config.toml"), home: dir}
	require.NoError(t, os.MkdirAll(filepath.Dir(p.auth), 0o700))
	require.NoError(t, os.WriteFile(p.config, nil, 0o600))
	if fixture != nil {
		require.NoError(t, os.WriteFile(p.auth, fixture, 0o600))
	}
	return p
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// credpool runs the credpool binary with p's settings and stdin, in an
// environment with no user config and no CREDPOOL_* variables.
func credpool(t testing.TB, p paths, stdin string, args ...string) cliResult {
	t.Helper()
	res, err := runCredpool(daemontest.Binary(t), p, true, stdin, args...)
	require.NoError(t, err)
	return res
}

// runCredpool is credpool for goroutines other than the test's (no t); the
// settings flags are added when withFlags.
func runCredpool(bin string, p paths, withFlags bool, stdin string, args ...string) (cliResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if withFlags {
		args = append(args, "--auth-file", p.auth, "--socket", p.socket, "--config", p.config)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cliEnv(p.home)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("credpool %v: %w", args, err)
	}
	return res, nil
}

func (h *harness) credpool(stdin string, args ...string) cliResult {
	h.t.Helper()
	return credpool(h.t, h.paths(), stdin, args...)
}

func cliEnv(home string) []string {
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_RUNTIME_DIR=" + filepath.Join(home, "xdg-run")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CREDPOOL") || strings.HasPrefix(k, "HERMES") || strings.HasPrefix(k, "XDG_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// hermes runs testdata/hermes.py, a writer that behaves like Hermes
// (fcntl.flock on auth.lock, temp file, os.replace), and returns its stdout.
func hermes(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runHermes(hermesCommand(t), args...)
	require.NoError(t, err)
	return out
}

// hermesCommand is the interpreter and script of hermes; it skips the test
// where there is no python3.
func hermesCommand(t testing.TB) []string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Hermes-like writer needs it")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "hermes.py"))
	require.NoError(t, err)
	return []string{py, script}
}

// runHermes is hermes for goroutines other than the test's.
func runHermes(command []string, args ...string) (string, error) {
	out, err := exec.Command(command[0], append(command[1:], args...)...).Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return "", fmt.Errorf("hermes.py %v: %w\n%s", args, err, exitErr.Stderr)
	}
	return string(out), err
}

// follower reads /v1/events from the moment follow returns (the daemon sends
// the headers once it has subscribed).
type follower struct {
	mu    sync.Mutex
	lines []string
	evs   []apitype.Event
}

func (h *harness) follow() *follower {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://credpool/v1/events", nil)
	require.NoError(h.t, err)
	// No client timeout: the stream lasts the whole test.
	resp, err := (&http.Client{Transport: h.http.Transport}).Do(req)
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	f := &follower{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev apitype.Event
			err := json.Unmarshal(sc.Bytes(), &ev)
			f.mu.Lock()
			f.lines = append(f.lines, sc.Text())
			if err == nil {
				f.evs = append(f.evs, ev)
			}
			f.mu.Unlock()
		}
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
		daemontest.NoSecret(h.t, "events", strings.Join(f.raw(), "\n"))
	})
	return f
}

func (f *follower) raw() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

func (f *follower) find(typ, id string) (apitype.Event, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.evs {
		if ev.Type == typ && (id == "" || ev.ID == id) {
			return ev, true
		}
	}
	return apitype.Event{}, false
}

// wait waits for an event of typ about id ("" = any).
func (f *follower) wait(t testing.TB, typ, id string) apitype.Event {
	t.Helper()
	var ev apitype.Event
	daemontest.Eventually(t, "event "+typ+" "+id, func() bool {
		var ok bool
		ev, ok = f.find(typ, id)
		return ok
	})
	return ev
}

// answerHasNoSecret checks a JSON answer: refresh tokens never, access tokens
// only at the JSON paths in allowed (e.g. "credential.access_token").
func answerHasNoSecret(t testing.TB, what string, body []byte, allowed ...string) {
	t.Helper()
	if len(allowed) == 0 {
		daemontest.NoSecret(t, what, string(body))
		return
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc), "%s: %s", what, excerpt(body))
	for _, path := range allowed {
		parts := strings.Split(path, ".")
		m := doc
		for _, p := range parts[:len(parts)-1] {
			m, _ = m[p].(map[string]any)
		}
		if m == nil {
			continue
		}
		last := parts[len(parts)-1]
		if tok, ok := m[last].(string); ok {
			assert.True(t, strings.HasPrefix(tok, "sk-"), "%s: %s holds %q, not an access token", what, path, tok)
			delete(m, last)
		}
	}
	rest, err := json.Marshal(doc)
	require.NoError(t, err)
	daemontest.NoSecret(t, what+" (outside "+strings.Join(allowed, ", ")+")", string(rest))
}

func excerpt(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// lineWith is the line of text that contains s, or "".
func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
