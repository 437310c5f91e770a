package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
type hermesRefresher struct{ p *daemontest.Proc }

// refresherCommand is hermes_refresh.py's command line for the fake token
// endpoint at tokenURL, by the real Hermes code or by the Hermes-style
// script.
type refresherCommand func(tokenURL string) []string

// refresherScript is the path of hermes_refresh.py.
func refresherScript(t testing.TB) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "hermes_refresh.py"))
	require.NoError(t, err)
	return script
}

// scriptRefresher runs the Hermes-style script; the test skips without
// python3.
func scriptRefresher(t testing.TB) refresherCommand {
	t.Helper()
	py, script := anyPython(t, "the Hermes-style refresher"), refresherScript(t)
	return func(tokenURL string) []string { return []string{py, script, "script", tokenURL} }
}

// realRefresher runs the real Hermes code; the test skips, saying what is
// missing, where the Hermes checkout or its Python packages are not there.
func realRefresher(t testing.TB) refresherCommand {
	t.Helper()
	py, src := hermesCheckout(t)
	script := refresherScript(t)
	return func(tokenURL string) []string { return []string{py, script, "real", src, tokenURL} }
}

// startHermesRefreshers starts n refreshers (command) on h's auth.json, in
// one Hermes environment, and waits until each has loaded the pool.
func startHermesRefreshers(t testing.TB, h *harness, fake *oauthtest.Server, command refresherCommand, n int) []*hermesRefresher {
	t.Helper()
	env := hermesEnv(t, h.AuthFile)
	argv := command(fake.TokenURL(codexPool))
	rs := make([]*hermesRefresher, n)
	for i := range rs {
		rs[i] = &hermesRefresher{p: hermesProc(t, env, argv...)}
	}
	// They load at the same time: the first wait covers the others.
	deadline := time.Now().Add(30 * time.Second)
	for i, r := range rs {
		require.Equal(t, "ready", r.next(time.Until(deadline)), "hermes refresher %d; stderr:\n%s", i, r.p.Stderr())
	}
	return rs
}

// next is the next line of the refresher's stdout that is the protocol's
// ("ready" or a JSON object): the real Hermes code may print others.
func (r *hermesRefresher) next(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		if l := strings.TrimSpace(r.p.Expect(time.Until(deadline))); l == "ready" || strings.HasPrefix(l, "{") {
			return l
		}
	}
}

// result returns the sha256 of the access token the refresher ended with,
// once it has been let go.
func (r *hermesRefresher) result() (string, error) {
	var res struct {
		AccessSHA *string `json:"access_sha"`
		Error     *string `json:"error"`
	}
	line := r.next(30 * time.Second)
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return "", fmt.Errorf("hermes refresher said %q: %w; stderr: %s", line, err, r.p.Stderr())
	}
	if res.Error != nil || res.AccessSHA == nil {
		return "", fmt.Errorf("hermes refresher: %v; stderr: %s", apitype.Value(res.Error), r.p.Stderr())
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
	for _, kind := range []struct {
		name    string
		command func(t testing.TB) refresherCommand
	}{
		{"hermes-style script", scriptRefresher},
		{"real hermes", realRefresher},
	} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			stampede(t, kind.command(t), 100, 4)
		})
	}
}

func stampede(t *testing.T, command refresherCommand, agents, hermeses int) {
	fake := oauthtest.New(t)
	// 60 s left: inside Hermes' 120 s skew, outside credpool's horizon,
	// so nobody refreshes before the storm.
	old := issue(fake, codexPool, 60*time.Second)
	h := startOAuth(t, codexFixture(t, old), fake, true, "--refresh-horizon", "10s")
	f := h.follow()

	t0 := time.Now()
	refreshers := startHermesRefreshers(t, h, fake, command, hermeses)
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
		r.p.Send("go")
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
