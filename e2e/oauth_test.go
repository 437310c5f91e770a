package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/oauth/oauthtest"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// OAuth refresh against the real binary. Only the token endpoint is fake
// (oauthtest, pointed at by --token-url or CREDPOOL_TOKEN_URL); the daemon
// runs on the real clock, so every token's expiry is set relative to now
// (the fake's lifetime when it issues it) and no test waits for one.

const codexPool = "openai-codex"

// codexID is the id of the one openai-codex entry of codexFixture.
const codexID = "c0dex1"

// issue mints a login at the fake whose access token expires in lifetime;
// later refreshes issue tokens that live an hour.
func issue(fake *oauthtest.Server, provider string, lifetime time.Duration) oauthtest.Token {
	fake.SetLifetime(lifetime, false)
	defer fake.SetLifetime(time.Hour, false)
	return fake.Issue(provider)
}

// codexFixture is auth.json as Hermes writes a Codex device-code login: the
// singleton providers.openai-codex.tokens and one pool row holding the
// same pair.
func codexFixture(t testing.TB, tok oauthtest.Token) []byte {
	t.Helper()
	doc := map[string]any{
		"version":         1,
		"active_provider": codexPool,
		"providers": map[string]any{codexPool: map[string]any{
			"tokens": map[string]any{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
				"id_token": tok.IDToken, "account_id": "acct-e2e"},
			"last_refresh": "2026-06-01T12:00:00Z", "auth_mode": "chatgpt",
		}},
		"credential_pool": map[string]any{codexPool: []any{map[string]any{
			"id": codexID, "label": "work@example.com", "auth_type": "oauth", "priority": 0,
			"source": "device_code", "access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
			"base_url": "https://chatgpt.com/backend-api/codex", "request_count": 0,
		}}},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out
}

// startOAuth starts the daemon on fixture with the fake as every
// provider's token endpoint (by flag, or by CREDPOOL_TOKEN_URL when
// viaEnv), other tools' logins off and HOME inside its directory.
func startOAuth(t testing.TB, fixture []byte, fake *oauthtest.Server, viaEnv bool, args ...string) *harness {
	t.Helper()
	dir := testio.ShortTempDir(t)
	home := filepath.Join(dir, "home")
	require.NoError(t, os.MkdirAll(home, 0o700))
	opts := daemontest.Options{Dir: dir, Env: []string{"HOME=" + home}, Args: append([]string{"--external-logins", "none"}, args...)}
	if viaEnv {
		opts.Env = append(opts.Env, "CREDPOOL_TOKEN_URL="+fake.OverrideString())
	} else {
		for provider, u := range fake.Overrides() {
			opts.Args = append(opts.Args, "--token-url", provider+"="+u)
		}
	}
	return start(t, fixture, opts)
}

// metric is the value of one sample of the daemon's /metrics (0 when the
// sample is absent). labels are name="value" pairs in the order Prometheus
// writes them (sorted by name).
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	text, err := h.Client.Metrics(bg)
	require.NoError(h.t, err)
	daemontest.NoSecret(h.t, "/metrics", text)
	want := name
	if len(labels) > 0 {
		want += "{" + strings.Join(labels, ",") + "}"
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, want+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(h.t, err, line)
			return f
		}
	}
	return 0
}

func refreshes(h *harness, provider, outcome string) float64 {
	return h.metric("credpool_refreshes_total", `outcome="`+outcome+`"`, `provider="`+provider+`"`)
}

// waitRefreshes waits until credpool_refreshes_total counts n refreshes of
// provider with outcome (it is counted just after the refresh's events).
func waitRefreshes(t testing.TB, h *harness, provider, outcome string, n float64) {
	t.Helper()
	daemontest.Eventually(t, fmt.Sprintf("credpool_refreshes_total{outcome=%q} %v", outcome, n), func() bool {
		return refreshes(h, provider, outcome) == n
	})
}

// pairOnDisk is the access and refresh token of the row and of the
// singleton in auth.json.
func pairOnDisk(t testing.TB, h *harness) (row, singleton [2]string) {
	t.Helper()
	doc := h.disk()
	e := entryOf(t, doc, codexPool, codexID)
	row = [2]string{str(e["access_token"]), str(e["refresh_token"])}
	providers, _ := doc["providers"].(map[string]any)
	p, _ := providers[codexPool].(map[string]any)
	tk, _ := p["tokens"].(map[string]any)
	singleton = [2]string{str(tk["access_token"]), str(tk["refresh_token"])}
	return row, singleton
}

// newPairOnDisk waits until the row and the singleton both hold tok.
func newPairOnDisk(t testing.TB, h *harness, tok oauthtest.Token) {
	t.Helper()
	want := [2]string{tok.AccessToken, tok.RefreshToken}
	daemontest.Eventually(t, "the new pair in the row and the singleton", func() bool {
		row, sg := pairOnDisk(t, h)
		return row == want && sg == want
	})
}

// hermesRefresher is one Hermes process waiting to refresh the Codex login
// (testdata/hermes_refresh.py): started, loaded, and blocked until go.
type hermesRefresher struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	err   *testio.SyncBuffer
}

// hermesPython is the interpreter the real Hermes code runs on: Debian's,
// with the packages Hermes imports.
const hermesPython = "/usr/bin/python3"

// hermesSource is the real Hermes code (a directory holding
// agent/credential_pool.py), "" when there is none or hermesPython cannot
// import what it needs: $CREDPOOL_HERMES_SRC, else shared/hermes in a
// directory above the module.
func hermesSource() string {
	if exec.Command(hermesPython, "-c", "import httpx, yaml, dotenv").Run() != nil {
		return ""
	}
	if src := os.Getenv("CREDPOOL_HERMES_SRC"); src != "" {
		return src
	}
	dir, err := filepath.Abs("..")
	if err != nil {
		return ""
	}
	for {
		src := filepath.Join(dir, "shared", "hermes")
		if _, err := os.Stat(filepath.Join(src, "agent", "credential_pool.py")); err == nil {
			return src
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// startHermesRefreshers starts n refreshers on h's auth.json, by the real
// Hermes code (src != "") or by the Hermes-style script, and waits until
// each has loaded the pool.
func startHermesRefreshers(t testing.TB, h *harness, fake *oauthtest.Server, src string, n int) []*hermesRefresher {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "hermes_refresh.py"))
	require.NoError(t, err)
	py := hermesPython
	args := []string{script, "real", src, fake.TokenURL(codexPool)}
	if src == "" {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed: the Hermes-style refresher needs it")
		}
		args = []string{script, "script", fake.TokenURL(codexPool)}
	}
	home := filepath.Join(h.Dir, "hermes-user")
	require.NoError(t, os.MkdirAll(home, 0o700))
	rs := make([]*hermesRefresher, n)
	ready := make(chan bool, n)
	for i := range rs {
		cmd := exec.Command(py, args...)
		cmd.Env = []string{"HERMES_HOME=" + filepath.Dir(h.AuthFile), "HOME=" + home, "PATH=" + os.Getenv("PATH")}
		r := &hermesRefresher{cmd: cmd, err: &testio.SyncBuffer{}}
		cmd.Stderr = r.err
		r.stdin, err = cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = r.stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		r.out = bufio.NewScanner(stdout)
		go func() { ready <- r.next() == "ready" }()
		rs[i] = r
	}
	timeout := time.After(30 * time.Second)
	for range rs {
		select {
		case ok := <-ready:
			require.True(t, ok, "a Hermes refresher did not get ready: %s", rs[0].err.String())
		case <-timeout:
			t.Fatalf("the Hermes refreshers did not get ready in 30 s: %s", rs[0].err.String())
		}
	}
	return rs
}

// next is the next line of the refresher's stdout that is the protocol's
// ("ready" or a JSON object), "" at its end.
func (r *hermesRefresher) next() string {
	for r.out.Scan() {
		if l := strings.TrimSpace(r.out.Text()); l == "ready" || strings.HasPrefix(l, "{") {
			return l
		}
	}
	return ""
}

// result lets the refresher go and returns the sha256 of the access token
// it ended with.
func (r *hermesRefresher) result() (string, error) {
	var res struct {
		AccessSHA *string `json:"access_sha"`
		Error     *string `json:"error"`
	}
	line := r.next()
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return "", fmt.Errorf("hermes refresher said %q: %w; stderr: %s", line, err, r.err.String())
	}
	if res.Error != nil || res.AccessSHA == nil {
		return "", fmt.Errorf("hermes refresher: %v; stderr: %s", apitype.Value(res.Error), r.err.String())
	}
	return *res.AccessSHA, nil
}

// assertToken checks that got is the token want without printing either
// (a failure names their last 4 characters).
func assertToken(t testing.TB, want, got string, msgAndArgs ...any) bool {
	t.Helper()
	if got == want {
		return true
	}
	last4 := func(s string) string { return s[max(0, len(s)-4):] }
	return assert.Fail(t, fmt.Sprintf("a different token: …%s, want …%s", last4(got), last4(want)), msgAndArgs...)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The stampede: 100 agents get a 401 on the one Codex login at the same
// moment while 4 Hermes processes find its access token about to expire
// and try to refresh it under auth.lock. Exactly one refresh POST reaches
// the token endpoint, nobody sees refresh_token_reused, every agent and
// every Hermes process ends with the new access token, and auth.json holds
// the new pair in the row and in the singleton.
func TestOAuthStampede(t *testing.T) {
	t.Parallel()
	kinds := []struct{ name, src string }{{"hermes-style script", ""}}
	if src := hermesSource(); src != "" {
		kinds = append(kinds, struct{ name, src string }{"real hermes", src})
	} else {
		t.Log("the real Hermes code is not here (set CREDPOOL_HERMES_SRC; /usr/bin/python3 needs python3-httpx, -yaml, -dotenv): only the Hermes-style script runs")
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			stampede(t, k.src, 100, 4)
		})
	}
}

func stampede(t *testing.T, hermesSrc string, agents, hermeses int) {
	fake := oauthtest.New(t)
	// 60 s left: inside Hermes' 120 s skew, outside credpool's horizon,
	// so nobody refreshes before the storm.
	old := issue(fake, codexPool, 60*time.Second)
	h := startOAuth(t, codexFixture(t, old), fake, true, "--refresh-horizon", "10s")
	f := h.follow()

	t0 := time.Now()
	refreshers := startHermesRefreshers(t, h, fake, hermesSrc, hermeses)
	t.Logf("hermes ready after %v", time.Since(t0))
	clients := make([]*socketapi.Client, agents)
	for i := range clients {
		clients[i] = socketapi.NewClient(h.Socket)
		t.Cleanup(clients[i].Close)
		sel, err := clients[i].Select(bg, codexPool, apitype.SelectRequest{})
		require.NoError(t, err)
		require.True(t, assertToken(t, old.AccessToken, sel.Credential.AccessToken), "before the storm every agent holds the old token")
	}

	goCh := make(chan struct{})
	got := make([]string, agents)
	errs := make([]error, agents)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-goCh
			got[i], errs[i] = agent401(c, old.AccessToken)
		}()
	}
	t.Logf("agents ready after %v", time.Since(t0))
	storm := time.Now()
	close(goCh)
	for _, r := range refreshers {
		_, err := io.WriteString(r.stdin, "go\n")
		require.NoError(t, err)
	}
	wg.Wait()
	t.Logf("every agent has the new token %v after the storm began", time.Since(storm))
	hermesGot := make([]string, hermeses)
	for i, r := range refreshers {
		var err error
		hermesGot[i], err = r.result()
		require.NoError(t, err, "hermes refresher %d", i)
	}

	issued := fake.Issued()
	require.Equal(t, 2, len(issued), "the login and exactly one refresh")
	fresh := issued[1]
	assert.Equal(t, 1, fake.TotalPosts(), "exactly one refresh POST in total")
	assert.Equal(t, 1, fake.Posts(old.RefreshToken), "the old refresh token was sent once")
	for _, r := range fake.Requests() {
		assert.Equal(t, 200, r.Status, "no refresh_token_reused or other refusal")
	}
	for i := range agents {
		if assert.NoError(t, errs[i], "agent %d", i) {
			assertToken(t, fresh.AccessToken, got[i], "agent %d ends with the new access token", i)
		}
	}
	for i, s := range hermesGot {
		assert.Equal(t, sha256Hex(fresh.AccessToken), s, "hermes process %d ends with the new access token", i)
	}
	sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
	require.NoError(t, err)
	assertToken(t, fresh.AccessToken, sel.Credential.AccessToken, "a select after the storm returns the new token")
	newPairOnDisk(t, h, fresh)
	_, failed := f.find("entry.refresh_failed", codexID)
	assert.False(t, failed, "no refresh failed")
	_, dead := f.find("entry.dead", codexID)
	assert.False(t, dead, "nothing died")
	// credpool made the one refresh, or a Hermes process did and credpool
	// took it from the file (by its reload, or by re-reading under the lock).
	assert.LessOrEqual(t, refreshes(h, codexPool, "refreshed"), 1.0)
	for _, outcome := range []string{"dead", "failed", "rate_limited"} {
		assert.Zero(t, refreshes(h, codexPool, outcome), outcome)
	}

	// A 401 that an agent reports on the old token after the refresh is
	// about a generation that is gone: it neither benches the new token
	// nor asks for another refresh.
	late, err := h.Client.Report(bg, codexPool, apitype.ReportRequest{CredentialID: codexID, APIKeyHint: old.AccessToken, StatusCode: 401})
	require.NoError(t, err)
	assert.Nil(t, late.Marked, "a late 401 on the old token marks nothing")
	sel, err = h.Client.Select(bg, codexPool, apitype.SelectRequest{})
	require.NoError(t, err)
	assertToken(t, fresh.AccessToken, sel.Credential.AccessToken)
	daemontest.Eventually(t, "no refresh in flight", func() bool { return !h.entry(codexPool, codexID).Refreshing })
	assert.Equal(t, 1, fake.TotalPosts(), "still exactly one refresh POST")
}

// agent401 is an agent whose call with token got a 401: it reports it and
// takes what it is given next, or waits for a credential, until it holds a
// token other than the one that failed.
func agent401(c *socketapi.Client, token string) (string, error) {
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	rep, err := c.Report(ctx, codexPool, apitype.ReportRequest{CredentialID: codexID, APIKeyHint: token, StatusCode: 401,
		Message: "Your authentication token is expired"})
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if rep.Next != nil && rep.Next.AccessToken != token {
		return rep.Next.AccessToken, nil
	}
	for ctx.Err() == nil {
		sel, err := c.Select(ctx, codexPool, apitype.SelectRequest{WaitMS: 10000})
		switch {
		case err == nil && sel.Credential.AccessToken != token:
			return sel.Credential.AccessToken, nil
		case err == nil, errors.Is(err, pool.ErrNoneAvailable):
			continue
		default:
			return "", fmt.Errorf("select: %w", err)
		}
	}
	return "", ctx.Err()
}

// entry is the daemon's view of one entry.
func (h *harness) entry(provider, id string) apitype.Entry {
	h.t.Helper()
	pv, err := h.Client.Pool(bg, provider)
	require.NoError(h.t, err)
	for _, e := range pv.Entries {
		if e.ID == id {
			return e
		}
	}
	h.t.Fatalf("no entry %s/%s in the daemon's view", provider, id)
	return apitype.Entry{}
}

// statusJSON is `credpool status --json PROVIDER`'s entry id.
func (h *harness) statusJSON(provider, id string) apitype.Entry {
	h.t.Helper()
	res := h.credpool("", "status", "--json", provider)
	require.Equal(h.t, 0, res.code, res.stderr)
	daemontest.NoSecret(h.t, "credpool status --json", res.stdout+res.stderr)
	var out apitype.Pools
	require.NoError(h.t, json.Unmarshal([]byte(res.stdout), &out))
	for _, p := range out.Pools {
		for _, e := range p.Entries {
			if e.ID == id {
				return e
			}
		}
	}
	h.t.Fatalf("credpool status --json shows no entry %s/%s", provider, id)
	return apitype.Entry{}
}

// What each answer of the token endpoint does to a Codex login whose
// access token expires in 60 s, inside the default 120 s horizon: the
// daemon refreshes it at start, with no report. The first answer comes
// after a short delay, so the event stream is followed before it.
func TestOAuthRefreshOutcomes(t *testing.T) {
	t.Parallel()
	const delay = 500 * time.Millisecond
	tests := []struct {
		name  string
		first oauthtest.Failure
		check func(t *testing.T, h *harness, f *follower, fake *oauthtest.Server, old oauthtest.Token)
	}{
		{"refreshed ahead of expiry", oauthtest.Slow(delay), func(t *testing.T, h *harness, f *follower, fake *oauthtest.Server, old oauthtest.Token) {
			ev := f.wait(t, "entry.refreshed", codexID)
			assert.Equal(t, "refresh", ev.Cause)
			fresh := fake.Issued()[1]
			assert.InDelta(t, float64(time.Now().Add(time.Hour).Unix()), ev.Until, 60, "the event says when the new token expires")
			sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
			require.NoError(t, err)
			assertToken(t, fresh.AccessToken, sel.Credential.AccessToken)
			st := h.statusJSON(codexPool, codexID)
			require.NotNil(t, st.LastRefresh, "status --json shows last_refresh")
			at, err := time.Parse(time.RFC3339Nano, *st.LastRefresh)
			require.NoError(t, err, *st.LastRefresh)
			assert.WithinDuration(t, time.Now(), at, time.Minute)
			require.NotNil(t, st.ExpiresAt)
			assert.InDelta(t, float64(time.Now().Add(time.Hour).Unix()), *st.ExpiresAt, 60)
			assert.False(t, st.Refreshing)
			assert.Nil(t, st.RefreshError)
			text := h.credpool("", "status", codexPool)
			assert.Contains(t, lineWith(text.stdout, codexID), "expires in 59m", text.stdout)
			newPairOnDisk(t, h, fresh)
			waitRefreshes(t, h, codexPool, "refreshed", 1)
			assert.Equal(t, 1, fake.Posts(old.RefreshToken))
		}},
		{"invalid_grant is DEAD", oauthtest.Failure{Delay: delay, Status: 400, Code: "invalid_grant"}, func(t *testing.T, h *harness, f *follower, fake *oauthtest.Server, old oauthtest.Token) {
			ev := f.wait(t, "entry.refresh_failed", codexID)
			assert.Equal(t, "invalid_grant", ev.Reason)
			dead := f.wait(t, "entry.dead", codexID)
			assert.Equal(t, "invalid_grant", dead.Reason)
			assert.Equal(t, "refresh", dead.Cause)
			e := h.entry(codexPool, codexID)
			assert.Equal(t, "dead", e.Status)
			assert.Equal(t, "invalid_grant", apitype.Value(e.LastErrorReason))
			_, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
			assert.ErrorIs(t, err, pool.ErrNoneAvailable, "a DEAD login is never handed out")
			daemontest.Eventually(t, "DEAD invalid_grant on disk", func() bool {
				row := entryOf(t, h.disk(), codexPool, codexID)
				return str(row["last_status"]) == "dead" && str(row["last_error_reason"]) == "invalid_grant"
			})
			waitRefreshes(t, h, codexPool, "dead", 1)
			assert.Equal(t, 1, fake.TotalPosts(), "a terminal answer is not retried")
		}},
		{"429 is no DEAD", oauthtest.Failure{Delay: delay, Status: 429, Code: "rate_limited", RetryAfter: "3600"}, func(t *testing.T, h *harness, f *follower, fake *oauthtest.Server, old oauthtest.Token) {
			f.wait(t, "entry.refresh_failed", codexID)
			e := h.entry(codexPool, codexID)
			assert.Equal(t, "ok", e.Status)
			assert.True(t, e.Available, "usable while its access token is valid")
			assert.NotNil(t, e.RefreshError, "status says the last refresh failed")
			sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
			require.NoError(t, err)
			assertToken(t, old.AccessToken, sel.Credential.AccessToken)
			text := h.credpool("", "status", codexPool)
			assert.Contains(t, lineWith(text.stdout, codexID), "last refresh failed", text.stdout)
			daemontest.NoSecret(t, "credpool status", text.stdout)
			waitRefreshes(t, h, codexPool, "rate_limited", 1)
			_, dead := f.find("entry.dead", codexID)
			assert.False(t, dead)
		}},
		{"500 is retried", oauthtest.Failure{Delay: delay, Status: 500}, func(t *testing.T, h *harness, f *follower, fake *oauthtest.Server, old oauthtest.Token) {
			f.wait(t, "entry.refresh_failed", codexID)
			e := h.entry(codexPool, codexID)
			if _, done := f.find("entry.refreshed", codexID); !done {
				assert.Equal(t, "ok", e.Status)
				assert.True(t, e.Available, "usable while its access token is valid")
				sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
				require.NoError(t, err)
				assertToken(t, old.AccessToken, sel.Credential.AccessToken)
			}
			f.wait(t, "entry.refreshed", codexID)
			fresh := fake.Issued()[1]
			sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
			require.NoError(t, err)
			assertToken(t, fresh.AccessToken, sel.Credential.AccessToken)
			assert.Equal(t, 2, fake.Posts(old.RefreshToken), "the same refresh token again: a 500 spent nothing")
			waitRefreshes(t, h, codexPool, "failed", 1)
			waitRefreshes(t, h, codexPool, "refreshed", 1)
			assert.Nil(t, h.entry(codexPool, codexID).RefreshError, "a success clears the last error")
			newPairOnDisk(t, h, fresh)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := oauthtest.New(t)
			old := issue(fake, codexPool, 60*time.Second)
			fake.FailNext(tc.first)
			h := startOAuth(t, codexFixture(t, old), fake, false)
			f := h.follow()
			tc.check(t, h, f, fake, old)
			for _, r := range fake.Requests() {
				assert.False(t, r.Cancelled, "no refresh was given up")
			}
		})
	}
}
