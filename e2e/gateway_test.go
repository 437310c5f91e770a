package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	cppaths "github.com/credpool/credpool/paths"
)

// Gateway tests run the real daemon with --gateway 127.0.0.1:0 in front of
// the fake provider of gatewaytest (the one fake: a remote service). The
// daemon logs at debug, and start's cleanup checks that no SECRET reached
// its stderr; the gateway token carries the marker too.

// gwPool is one pool of a gateway fixture: its keys' behaviours at the
// fake upstream ("" = a key the upstream does not know), and the entries'
// base_url ("" = none: the --upstream flag decides).
type gwPool struct {
	name, prefix, baseURL string
	keys                  []gt.Behaviour
}

// gwKey is the token of key n of a pool: "sk-SECRET-<prefix>-key<n>".
func gwKey(prefix string, n int) string { return fmt.Sprintf("sk-SECRET-%s-key%d", prefix, n) }

// gwHarness is a daemon whose gateway serves in front of a fake upstream.
type gwHarness struct {
	*harness
	up    *gt.Upstream
	url   string // http://127.0.0.1:PORT
	token string
	hc    *http.Client
}

// startGateway starts the real daemon on pools (ids <prefix>1, <prefix>2,
// ... in fill_first order). openai and anthropic reach the upstream
// through --upstream; a pool with baseURL "up" through its entries'
// base_url.
func startGateway(t *testing.T, pools ...gwPool) *gwHarness {
	t.Helper()
	keys := map[string]gt.Behaviour{}
	for _, p := range pools {
		for i, b := range p.keys {
			if b != "" {
				keys[gwKey(p.prefix, i+1)] = b
			}
		}
	}
	up := gt.NewUpstream(t, keys)
	credPools := map[string]any{}
	for _, p := range pools {
		var entries []map[string]any
		for i := range p.keys {
			e := map[string]any{"id": fmt.Sprintf("%s%d", p.prefix, i+1), "label": fmt.Sprintf("%s key %d", p.name, i+1),
				"auth_type": "api_key", "priority": i, "source": "manual", "access_token": gwKey(p.prefix, i+1)}
			if p.baseURL == "up" {
				e["base_url"] = up.URL + "/v1"
			}
			entries = append(entries, e)
		}
		credPools[p.name] = entries
	}
	fixture, err := json.Marshal(map[string]any{"version": 1, "credential_pool": credPools})
	require.NoError(t, err)

	// The token is made beforehand, with the marker in it, where package
	// paths puts it for the daemon's XDG_CONFIG_HOME; the daemon and the
	// command line find it there.
	dir := testio.ShortTempDir(t)
	token := "cpgw-" + daemontest.SecretMark + "-e2e-" + randHex(t)
	configHome := filepath.Join(dir, "config")
	tokenFile, ok := cppaths.GatewayToken(func(name string) string {
		if name == "XDG_CONFIG_HOME" {
			return configHome
		}
		return ""
	})
	require.True(t, ok)
	require.NoError(t, os.MkdirAll(filepath.Dir(tokenFile), 0o700))
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))

	h := start(t, fixture, daemontest.Options{Dir: dir,
		Args: []string{"--gateway", "127.0.0.1:0", "--log-level", "debug",
			"--upstream", "openai=" + up.URL + "/v1", "--upstream", "anthropic=" + up.URL},
		Env: []string{"XDG_CONFIG_HOME=" + configHome}})
	addr := h.health().Gateway
	require.NotNil(t, addr, "health names the gateway's address: %s", h.Stderr.String())
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &gwHarness{harness: h, up: up, url: "http://" + *addr, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// request sends method path through the gateway with the token as a Bearer
// token, plus headers (as gatewaytest.NewRequest takes them).
func (g *gwHarness) request(ctx context.Context, method, path, body string, headers ...string) *http.Response {
	g.t.Helper()
	req, err := gt.NewRequest(ctx, method, g.url+path, g.token, body, headers...)
	require.NoError(g.t, err)
	resp, err := g.hc.Do(req)
	require.NoError(g.t, err)
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// statusRow is the line of `credpool status POOL` (the real binary) for
// entry id.
func (g *gwHarness) statusRow(pool, id string) string {
	g.t.Helper()
	res := g.credpool("", "status", pool)
	require.Equal(g.t, 0, res.code, res.stderr)
	row := lineWith(res.stdout, "  "+id+"  ")
	require.NotEmpty(g.t, row, "no row for %s in:\n%s", id, res.stdout)
	return row
}

func sdkContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const chatBody = `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`
const chatStreamBody = `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// The official SDKs, configured by their own two variables only, get the
// 200 and the stream through the real daemon's gateway while it rotates
// past a 429 and a 401; afterwards credpool status shows what the
// provider said.
func TestGatewayOfficialSDKs(t *testing.T) {
	t.Parallel()
	if err := gt.NodeReady(); err != nil {
		t.Skip("SDK test skipped: " + err.Error())
	}
	g := startGateway(t,
		gwPool{name: "openai", prefix: "o", keys: []gt.Behaviour{gt.RateLimited, gt.Invalidated, gt.OK}},
		gwPool{name: "anthropic", prefix: "a", keys: []gt.Behaviour{gt.RateLimited, gt.Invalidated, gt.OK}})
	f := g.follow()

	// The token the command line prints is the one the daemon checks.
	tok := g.credpool("", "gateway", "token")
	require.Equal(t, 0, tok.code, tok.stderr)
	assert.Equal(t, g.token+"\n", tok.stdout)

	for _, tc := range []struct{ pool, script string }{{"openai", gt.OpenAIScript}, {"anthropic", gt.AnthropicScript}} {
		u := g.credpool("", "gateway", "url", tc.pool)
		require.Equal(t, 0, u.code, u.stderr)
		require.Equal(t, g.url+"/"+tc.pool+"\n", u.stdout)
		res, err := gt.RunScript(sdkContext(t), tc.script, strings.TrimSpace(u.stdout), strings.TrimSpace(tok.stdout))
		require.NoError(t, err)
		require.Nil(t, res.Error, "%s: %+v", tc.script, res.Error)
		assert.NotEmpty(t, res.Version)
		assert.Equal(t, gt.Text, res.Text, tc.script)
		assert.Equal(t, gt.Text, res.StreamText, tc.script)
		assert.Greater(t, res.StreamEvents, len(gt.StreamPieces), tc.script)
	}
	// The first call of each SDK went 429, 401, 200; the stream went
	// straight to key 3. No request reached the upstream with the
	// gateway token.
	assert.Equal(t, []string{gwKey("o", 1), gwKey("o", 2), gwKey("o", 3), gwKey("o", 3),
		gwKey("a", 1), gwKey("a", 2), gwKey("a", 3), gwKey("a", 3)}, g.up.Keys())
	for _, r := range g.up.Requests() {
		for k, vs := range r.Header {
			assert.NotContains(t, strings.Join(vs, " "), g.token, "header %s", k)
		}
	}

	assert.Contains(t, g.statusRow("openai", "o1"), "exhausted 429")
	assert.Contains(t, g.statusRow("openai", "o2"), "dead token_invalidated")
	assert.Regexp(t, `\s+ok\s`, g.statusRow("openai", "o3"))
	// Anthropic's 429 benches a key for the model asked; its 401 names no
	// terminal reason, so key 2 cools down instead of dying.
	assert.Contains(t, g.statusRow("anthropic", "a1"), "claude-test")
	assert.Contains(t, g.statusRow("anthropic", "a2"), "exhausted 401")
	f.wait(t, "entry.dead", "o2")
}

// The real Codex CLI, with the daemon's gateway as a custom model provider
// (base_url), runs codex exec against the fake Responses API through a
// rate-limited key it never hears of.
func TestGatewayCodexExec(t *testing.T) {
	t.Parallel()
	if err := gt.CodexReady(); err != nil {
		t.Skip("Codex test skipped: " + err.Error())
	}
	g := startGateway(t, gwPool{name: "openai", prefix: "o", keys: []gt.Behaviour{gt.RateLimited, gt.OK}})
	out, logs, err := gt.RunCodex(sdkContext(t), g.url+"/openai", g.token, "gpt-test", "Say hello.")
	require.NoError(t, err, "codex stderr:\n%s", logs)
	assert.Contains(t, out, gt.Text, "codex stderr:\n%s", logs)
	reqs := g.up.Requests()
	require.Len(t, reqs, 2, "one turn: the rate-limited attempt and its retry")
	for _, r := range reqs {
		assert.Equal(t, "/v1/responses", r.Path)
		assert.True(t, r.Stream)
	}
	assert.Equal(t, []string{gwKey("o", 1), gwKey("o", 2)}, g.up.Keys())
	assert.Contains(t, g.statusRow("openai", "o1"), "exhausted 429")
	assert.NotContains(t, logs, g.token, "codex's own log")
}

// nextEvent is the next event, failing the test when none comes in 10 s: an
// event held back by the gateway never comes while the upstream waits.
func nextEvent(t *testing.T, events <-chan string, what string) string {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "the stream ended before %s", what)
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event for %s: the gateway did not pass it on", what)
		return ""
	}
}

// Streams through the real daemon: a slow stream comes through one event
// at a time, as the upstream sends each; a client that leaves cancels the
// upstream request and marks nothing; a stream cut half way is reported as
// the failure it is.
func TestGatewayStreams(t *testing.T) {
	t.Parallel()
	g := startGateway(t,
		gwPool{name: "slow", prefix: "s", baseURL: "up", keys: []gt.Behaviour{gt.Stepped}},
		gwPool{name: "hang", prefix: "h", baseURL: "up", keys: []gt.Behaviour{gt.Hang}},
		gwPool{name: "cut", prefix: "c", baseURL: "up", keys: []gt.Behaviour{gt.Cut}})

	t.Run("slow stream, flushed per event", func(t *testing.T) {
		resp := g.request(context.Background(), "POST", "/slow/chat/completions", chatStreamBody)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		events := gt.SSEData(resp.Body)
		nextEvent(t, events, "the role chunk")
		var text strings.Builder
		for i, piece := range gt.StreamPieces {
			if i > 0 {
				require.NoError(t, g.up.Step())
			}
			ev := nextEvent(t, events, fmt.Sprintf("piece %d", i))
			assert.Contains(t, ev, piece)
			text.WriteString(piece)
		}
		require.NoError(t, g.up.Step())
		assert.Contains(t, nextEvent(t, events, "the finish chunk"), `"finish_reason":"stop"`)
		assert.Equal(t, "[DONE]", nextEvent(t, events, "[DONE]"))
		assert.Equal(t, gt.Text, text.String())
		assert.Regexp(t, `\s+ok\s`, g.statusRow("slow", "s1"))
	})

	t.Run("client leaves", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := g.request(ctx, "POST", "/hang/chat/completions", chatStreamBody)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		events := gt.SSEData(resp.Body)
		nextEvent(t, events, "the role chunk")
		nextEvent(t, events, "the first piece")
		cancel()
		select {
		case key := <-g.up.Cancelled():
			assert.Equal(t, gwKey("h", 1), key)
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream request was not cancelled when the client left")
		}
		daemontest.Eventually(t, "the request's log line", func() bool {
			return strings.Contains(lineWith(g.Stderr.String(), "pool=hang credential=h1 status="), `msg="gateway request"`)
		})
		assert.Regexp(t, `\s+ok\s`, g.statusRow("hang", "h1"), "a client that leaves is no failure of the key's")
	})

	t.Run("stream cut half way", func(t *testing.T) {
		resp := g.request(context.Background(), "POST", "/cut/chat/completions", chatStreamBody)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Error(t, err, "the client sees the stream break off")
		daemontest.Eventually(t, "the cut reported", func() bool {
			return strings.Contains(g.statusRow("cut", "c1"), "exhausted 502 stream_interrupted")
		})
	})
}

// A daemon without the gateway says so when asked for a gateway URL, and
// how to turn it on; its health says "gateway": null.
func TestGatewayURLWithGatewayOff(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	assert.Nil(t, h.health().Gateway)
	res := h.credpool("", "gateway", "url", "openai")
	assert.Equal(t, 1, res.code)
	assert.Empty(t, res.stdout)
	assert.Contains(t, res.stderr, "serves no gateway")
	assert.Contains(t, res.stderr, `gateway = "127.0.0.1:8484"`)
}
