package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/gateway"
	gt "github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

// gwKey is the access token of key n of the gateway tests' pool.
func gwKey(n int) string { return fmt.Sprintf("sk-SECRET-gw-key%d", n) }

// gatewayFixture is an auth.json whose pool "openai" holds one api_key
// entry per behaviour, k1, k2, ... in fill_first order; keys maps each
// entry's token to its behaviour for the fake upstream.
func gatewayFixture(t *testing.T, behaviours ...gt.Behaviour) ([]byte, map[string]gt.Behaviour) {
	t.Helper()
	keys := map[string]gt.Behaviour{}
	var entries []map[string]any
	for i, b := range behaviours {
		n := i + 1
		keys[gwKey(n)] = b
		entries = append(entries, map[string]any{
			"id": fmt.Sprintf("k%d", n), "label": fmt.Sprintf("key %d", n), "auth_type": "api_key",
			"priority": i, "source": "manual", "access_token": gwKey(n),
		})
	}
	b, err := json.Marshal(map[string]any{"version": 1, "credential_pool": map[string]any{"openai": entries}})
	require.NoError(t, err)
	return b, keys
}

// gwHarness is a daemon with its gateway on a free loopback port, in front
// of a fake upstream.
type gwHarness struct {
	*harness
	up    *gt.Upstream
	url   string // http://127.0.0.1:PORT
	token string
	hc    *http.Client
}

func startGateway(t *testing.T, behaviours ...gt.Behaviour) *gwHarness {
	t.Helper()
	fix, keys := gatewayFixture(t, behaviours...)
	up := gt.NewUpstream(t, keys)
	tokenFile := filepath.Join(t.TempDir(), "config", "gateway.token")
	h := start(t, fix, func(c *Config) {
		c.Gateway = GatewayConfig{Addr: "127.0.0.1:0", TokenFile: tokenFile,
			Upstreams: map[string]string{"openai": up.URL + "/v1"}}
	})
	hl, err := h.client.Health(context.Background())
	require.NoError(t, err)
	require.NotNil(t, hl.Gateway, "health names the gateway's address")
	fi, err := os.Stat(tokenFile)
	require.NoError(t, err, "the daemon made the token at its first start")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	tok, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &gwHarness{harness: h, up: up, url: "http://" + *hl.Gateway,
		token: strings.TrimSpace(string(tok)), hc: &http.Client{Transport: tr}}
}

// post sends a chat completion through the gateway and returns the answer.
func (g *gwHarness) post(path string) (*http.Response, string) {
	g.t.Helper()
	req, err := http.NewRequest("POST", g.url+path, strings.NewReader(`{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(g.t, err)
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.hc.Do(req)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(g.t, err)
	return resp, string(b)
}

// The gateway rotates over the daemon's own pool: the 429 and the 401
// token_invalidated go into the pool as the socket API's reports would,
// the client gets key 3's answer, and the marks are on disk by the time the
// daemon has stopped.
func TestGatewayRotatesOverThePool(t *testing.T) {
	g := startGateway(t, gt.RateLimited, gt.Invalidated, gt.OK)
	resp, body := g.post("/openai/chat/completions")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, gt.Text)
	assert.Equal(t, []string{gwKey(1), gwKey(2), gwKey(3)}, g.up.Keys())

	v, err := g.client.Pool(context.Background(), "openai")
	require.NoError(t, err)
	status := map[string]apitype.Entry{}
	for _, e := range v.Entries {
		status[e.ID] = e
	}
	assert.EqualValues(t, pool.StatusExhausted, status["k1"].Status)
	assert.InDelta(t, float64(fixtureNow.Unix()+30), apitype.Value(status["k1"].Until), 0.001, "the upstream's Retry-After: 30")
	assert.EqualValues(t, pool.StatusDead, status["k2"].Status)
	assert.EqualValues(t, pool.StatusOK, status["k3"].Status)
	// Each key was handed out once: the gateway selects its retries
	// itself, so its reports pick no next (which would count again).
	for _, id := range []string{"k1", "k2", "k3"} {
		assert.Equal(t, 1, status[id].RequestCount, "%s's request_count", id)
	}

	text, err := g.client.Metrics(context.Background())
	require.NoError(t, err)
	assert.Contains(t, text, `credpool_gateway_requests_total{attempts="3",pool="openai",status="200"} 1`)
	assert.Contains(t, text, `credpool_gateway_upstream_latency_seconds_count{pool="openai"} 3`)

	g.stop() // the reports were not waited for; the stop writes them
	e1, _ := diskEntry(t, g.auth, "openai", "k1")
	assert.Equal(t, pool.StatusExhausted, e1.LastStatus)
	assert.Equal(t, 429, e1.LastErrorCode)
	assert.Equal(t, "rate_limit_exceeded", e1.LastErrorReason)
	e2, _ := diskEntry(t, g.auth, "openai", "k2")
	assert.Equal(t, pool.StatusDead, e2.LastStatus)
	assert.Equal(t, "token_invalidated", e2.LastErrorReason)

	logs := g.logs.String()
	assert.Contains(t, logs, "gateway request")
	assert.NotContains(t, logs, "SECRET", "no key and no gateway token in the log")
	assert.NotContains(t, logs, g.token)
}

// When the one key has just answered 429, the client is told when it comes
// back (the pool leaves the key it excluded out of its own answer), and
// asks of the same pool before then never reach the upstream.
func TestGatewayNoneAvailableSaysWhenToRetry(t *testing.T) {
	g := startGateway(t, gt.RateLimited)
	for i, want := range []string{"tried 1 credential(s)", "no credential of pool"} {
		resp, body := g.post("/openai/chat/completions")
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
		assert.Contains(t, body, `"code":"no_credential_available"`)
		assert.Contains(t, body, want, "request %d", i+1)
		assert.Equal(t, "30", resp.Header.Get("Retry-After"), "request %d: k1 is back in 30 s", i+1)
		assert.Empty(t, resp.Header.Get("X-Should-Retry"), "request %d", i+1)
	}
	assert.Len(t, g.up.Requests(), 1, "only the first request reached the upstream")

	resp, body := g.post("/no-such-pool/chat/completions")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, `"code":"unknown_pool"`)
	assert.Len(t, g.up.Requests(), 1)
}

// A gateway that cannot start is the daemon's start error: the daemon
// says why and leaves no socket behind.
func TestGatewayStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, tc := range []struct {
		name, addr string
		tokenMode  os.FileMode // 0: no token file yet
		want       []string
	}{
		{"port in use", busy.Addr().String(), 0, []string{"daemon: gateway: listen", "address already in use", "--gateway"}},
		{"token readable by others", "127.0.0.1:0", 0o644, []string{"daemon: gateway token", "mode 0644", "chmod 600"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testio.ShortTempDir(t)
			tokenFile := filepath.Join(dir, "gateway.token")
			if tc.tokenMode != 0 {
				require.NoError(t, os.WriteFile(tokenFile, []byte("cpgw-SECRET-0123456789abcdef\n"), tc.tokenMode))
				require.NoError(t, os.Chmod(tokenFile, tc.tokenMode))
			}
			sock := filepath.Join(dir, "credpool.sock")
			logs := &testio.SyncBuffer{}
			err := Run(context.Background(), Config{AuthFile: filepath.Join(dir, "auth.json"), Socket: sock,
				Gateway: GatewayConfig{Addr: tc.addr, TokenFile: tokenFile},
				Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error()+logs.String(), "SECRET")
			_, statErr := os.Stat(sock)
			assert.ErrorIs(t, statErr, os.ErrNotExist, "no socket left behind")
		})
	}
}

// The gateway's answer for a token the credential has replaced since the
// request was sent (a re-login in between) is about that token: it marks
// nothing on the new one. The same answer for the new token marks it.
func TestGatewayAnswerOnAReplacedTokenIsStale(t *testing.T) {
	h := start(t, fixture(t), nil)
	const old, fresh = "sk-or-v1-primary-key-77aa11", "sk-or-v1-relogin-key-SECRET"
	daemontest.HermesWrite(t, h.auth, func(doc map[string]any) {
		daemontest.Entry(doc, "openrouter", "77aa11")["access_token"] = fresh
	})
	daemontest.Eventually(t, "the re-login is served", func() bool {
		v, err := h.client.Pool(context.Background(), "openrouter")
		require.NoError(t, err)
		for _, e := range v.Entries {
			if e.ID == "77aa11" {
				return apitype.Value(e.TokenHint) == fresh[len(fresh)-4:]
			}
		}
		return false
	})
	b := gatewayBackend{d: h.d}
	dead := func() bool {
		v, err := h.client.Pool(context.Background(), "openrouter")
		require.NoError(t, err)
		for _, e := range v.Entries {
			if e.ID == "77aa11" {
				return e.Status == string(pool.StatusDead)
			}
		}
		return false
	}
	b.Report(context.Background(), "openrouter", gateway.Report{CredentialID: "77aa11", AccessToken: old, StatusCode: 401, Reason: "token_invalidated"})
	assert.False(t, dead(), "the old token's 401 killed the re-login")
	b.Report(context.Background(), "openrouter", gateway.Report{CredentialID: "77aa11", AccessToken: fresh, StatusCode: 401, Reason: "token_invalidated"})
	assert.True(t, dead())
}
