package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/daemontest"
)

// raw sends one request, byte for byte as written (a Host of its own, a
// Content-Length with no body behind it), to the gateway, and reads the
// answer.
func (g *gwHarness) raw(request string) (*http.Response, string) {
	g.t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), 5*time.Second)
	require.NoError(g.t, err)
	defer c.Close()
	require.NoError(g.t, c.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(c, request)
	require.NoError(g.t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(g.t, err)
	return resp, string(b)
}

// Every refusal gets its own answer in the pool's own error format, and
// the upstream never sees the request.
func TestGatewayRefusals(t *testing.T) {
	t.Parallel()
	g := startGateway(t,
		gwPool{name: "openai", prefix: "o", keys: []gt.Behaviour{gt.OK}},
		gwPool{name: "anthropic", prefix: "a", keys: []gt.Behaviour{gt.OK}})
	wrong := "cpgw-SECRET-wrong-" + randHex(t)
	req := func(path, headers string) string {
		return "POST " + path + " HTTP/1.1\r\n" + headers + "Content-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(chatBody)) + "\r\nConnection: close\r\n\r\n" + chatBody
	}
	host := "Host: 127.0.0.1\r\n"
	bearer := "Authorization: Bearer " + g.token + "\r\n"
	for _, tc := range []struct {
		name, request string
		status        int
		want          []string // in the body
	}{
		{"wrong token", req("/openai/chat/completions", host+"Authorization: Bearer "+wrong+"\r\n"), 401,
			[]string{`"code":"invalid_api_key"`, "missing or wrong gateway token"}},
		{"no token", req("/openai/chat/completions", host), 401, []string{`"code":"invalid_api_key"`}},
		{"a pool key instead of the token", req("/openai/chat/completions", host+"X-Api-Key: "+gwKey("o", 1)+"\r\n"), 401,
			[]string{`"code":"invalid_api_key"`}},
		{"wrong token, Anthropic's format", req("/anthropic/v1/messages", host+"X-Api-Key: "+wrong+"\r\n"), 401,
			[]string{`"type":"error"`, `"type":"authentication_error"`, "gateway token"}},
		{"non-loopback Host", req("/openai/chat/completions", "Host: evil.example:8484\r\n"+bearer), 403,
			[]string{`"code":"host_not_allowed"`, "DNS rebinding"}},
		{"Origin header", req("/openai/chat/completions", host+bearer+"Origin: http://evil.example\r\n"), 403,
			[]string{`"code":"origin_not_allowed"`, "web pages"}},
		{"oversized body", "POST /openai/chat/completions HTTP/1.1\r\n" + host + bearer +
			"Content-Type: application/json\r\nContent-Length: 33554433\r\nConnection: close\r\n\r\n", 413,
			[]string{`"code":"request_too_large"`, "over 33554432 bytes"}},
		{"unknown pool", req("/no-such-pool/chat/completions", host+bearer), 404,
			[]string{`"code":"unknown_pool"`, `there is no pool \"no-such-pool\"`}},
		{"absolute URL", req("http://127.0.0.1/openai/chat/completions", host+bearer), 400,
			[]string{`"code":"absolute_url"`, "no open proxy"}},
		{"absolute URL to another host", req("http://api.openai.com/v1/chat/completions", host+bearer), 403,
			[]string{`"code":"host_not_allowed"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := g.raw(tc.request)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			for _, w := range tc.want {
				assert.Contains(t, body, w)
			}
			assert.NotContains(t, body, daemontest.SecretMark, "the answer quotes no token")
		})
	}
	assert.Empty(t, g.up.Requests(), "no refused request reached the upstream")

	// The control: the same request with the token gets through.
	resp, body := g.raw(req("/openai/chat/completions", host+bearer))
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Len(t, g.up.Requests(), 1)
}

// With the daemon at debug level, neither an upstream key nor the gateway
// token (nor a wrong one a client sent) reaches a log line, an event, a
// metric or credpool status; even an upstream answer that quotes the key
// is stored redacted. start's cleanup checks the log, follow's the events.
func TestGatewaySecretsNeverLeak(t *testing.T) {
	t.Parallel()
	// Key 1 is one the upstream does not know: its 401 quotes it, as
	// OpenAI's does.
	g := startGateway(t, gwPool{name: "openai", prefix: "o", keys: []gt.Behaviour{"", gt.RateLimited, gt.OK}})
	g.follow()
	ctx := context.Background()

	resp := g.request(ctx, "POST", "/openai/chat/completions", chatBody)
	body := readBody(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp = g.request(ctx, "POST", "/openai/chat/completions", chatStreamBody)
	assert.Contains(t, readBody(t, resp), "[DONE]")
	require.Equal(t, []string{gwKey("o", 1), gwKey("o", 2), gwKey("o", 3), gwKey("o", 3)}, g.up.Keys())

	wrong := "cpgw-SECRET-wrong-" + randHex(t)
	for _, h := range []string{"Authorization: Bearer " + wrong, "X-Api-Key: " + wrong, "X-Api-Key: " + gwKey("o", 3)} {
		resp := g.request(ctx, "POST", "/openai/chat/completions", chatBody, "Authorization:", h)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, h)
		daemontest.NoSecret(t, "answer to a refused token", readBody(t, resp))
	}
	// A secret-looking pool name or path is the client's own input: its
	// answer may quote it back, but it makes no label and is not logged as
	// it came.
	resp = g.request(ctx, "POST", "/sk-SECRET-in-a-path-0123456789/chat/completions", chatBody)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, readBody(t, resp), "unknown_pool")
	resp = g.request(ctx, "GET", "/openai/models/sk-SECRET-in-a-path-0123456789", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the fake answers every models path")
	readBody(t, resp)

	status := g.credpool("", "status", "openai")
	require.Equal(t, 0, status.code, status.stderr)
	assert.Contains(t, lineWith(status.stdout, "  o1  "), "exhausted 401 invalid_api_key")
	daemontest.NoSecret(t, "credpool status", status.stdout)
	js := g.credpool("", "status", "openai", "--json")
	require.Equal(t, 0, js.code, js.stderr)
	daemontest.NoSecret(t, "credpool status --json", js.stdout)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &doc), js.stdout)
	assert.Contains(t, js.stdout, "Incorrect API key provided", "the upstream's message is kept, the key cut out of it")

	code, metrics := g.call("GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(metrics), `credpool_gateway_requests_total{attempts="3",pool="openai",status="200"} 1`)
	assert.Contains(t, string(metrics), `credpool_gateway_requests_total{attempts="0",pool="unknown",status="404"} 1`)
	assert.Contains(t, string(metrics), `credpool_gateway_requests_total{attempts="0",pool="-",status="401"} 3`)
	daemontest.NoSecret(t, "/metrics", string(metrics))
	assert.NotContains(t, g.Stderr.String(), g.token)
}
