package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/testio"
)

// Every secret a test makes carries the marker, so that a leak shows.
const (
	marker  = "SECRET"
	gwToken = "cpgw-SECRET-gateway-token-0123456789"
)

var testNow = time.Unix(1_700_000_000, 0)

func fixedClock() time.Time { return testNow }

func openaiKey(i int) string    { return fmt.Sprintf("sk-SECRET-key%d", i) }
func anthropicKey(i int) string { return fmt.Sprintf("sk-ant-SECRET-key%d", i) }

// harness is a gateway on a real loopback listener in front of a fake
// upstream, on an in-memory pool. Pools "openai" and "anthropic" get one
// credential per behaviour: k1, k2, ... and a1, a2, ...
type harness struct {
	t    *testing.T
	up   *gatewaytest.Upstream
	b    *memBackend
	s    *Server
	url  string
	logs *testio.SyncBuffer
}

func newHarness(t *testing.T, behaviours []gatewaytest.Behaviour, mod ...func(*Config)) *harness {
	t.Helper()
	keys := map[string]gatewaytest.Behaviour{}
	var oa, an []Credential
	for i, b := range behaviours {
		n := i + 1
		keys[openaiKey(n)], keys[anthropicKey(n)] = b, b
		oa = append(oa, Credential{ID: fmt.Sprintf("k%d", n), Provider: "openai", AccessToken: openaiKey(n), AuthType: AuthAPIKey})
		an = append(an, Credential{ID: fmt.Sprintf("a%d", n), Provider: "anthropic", AccessToken: anthropicKey(n), AuthType: AuthAPIKey})
	}
	h := &harness{t: t, up: gatewaytest.NewUpstream(t, keys), logs: &testio.SyncBuffer{}}
	h.b = newMemBackend(fixedClock, map[string][]Credential{"openai": oa, "anthropic": an})
	cfg := Config{
		Addr:  "127.0.0.1:0",
		Token: gwToken,
		Upstreams: map[string]string{
			"openai":    h.up.URL + "/v1",
			"anthropic": h.up.URL,
		},
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    fixedClock,
	}
	for _, m := range mod {
		m(&cfg)
	}
	h.s, h.url = startServer(t, cfg, h.b)
	return h
}

// startServer runs a Server until the end of the test and returns it with
// its base URL.
func startServer(t *testing.T, cfg Config, b Backend) (*Server, string) {
	t.Helper()
	s, r := runServer(t, cfg, b)
	t.Cleanup(func() {
		r.stop()
		require.NoError(t, <-r.done)
	})
	return s, r.url
}

// running is a Server's Run under way: stop ends its context, done gets
// what Run returned.
type running struct {
	url  string
	addr string
	stop context.CancelFunc
	done chan error
}

func runServer(t *testing.T, cfg Config, b Backend) (*Server, running) {
	t.Helper()
	s, err := New(cfg, b)
	require.NoError(t, err)
	addr, err := s.Listen()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := running{url: "http://" + addr.String(), addr: addr.String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	return s, r
}

// streamRequest starts a chat stream through the gateway at base.
func streamRequest(t *testing.T, base string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/openai/chat/completions", strings.NewReader(chatStreamBody))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+gwToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp
}

// request sends method path with the gateway token as a Bearer token,
// unless headers say otherwise ("Name: value" pairs; "Name:" removes it).
func (h *harness) request(method, path, body string, headers ...string) *http.Response {
	h.t.Helper()
	return h.requestCtx(context.Background(), method, path, body, headers...)
}

func (h *harness) requestCtx(ctx context.Context, method, path, body string, headers ...string) *http.Response {
	h.t.Helper()
	req, err := gatewaytest.NewRequest(ctx, method, h.url+path, gwToken, body, headers...)
	require.NoError(h.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	return resp
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// reportsOf are the (credential, status, reason) of the reports, in order.
func reportsOf(rs []memReport) [][3]string {
	var out [][3]string
	for _, r := range rs {
		out = append(out, [3]string{r.CredentialID, fmt.Sprint(r.StatusCode), r.Reason})
	}
	return out
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const chatBody = `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`
const chatStreamBody = `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`

func timeout() <-chan time.Time { return time.After(5 * time.Second) }

// gatherText is the gateway's metrics in the text exposition format.
func gatherText(t *testing.T, s *Server) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&b, mf)
		require.NoError(t, err)
	}
	return b.String()
}
