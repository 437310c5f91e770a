package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// openaiError and anthropicError are the two error formats, strictly: a
// body must decode as one, with its fields set.
type openaiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// assertError checks status and the provider format: OpenAI's with code,
// or (for anthropic pools) Anthropic's with type.
func assertError(t *testing.T, resp *http.Response, status int, anthropic bool, codeOrType string) string {
	t.Helper()
	body := readAll(t, resp)
	require.Equal(t, status, resp.StatusCode, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if anthropic {
		var e anthropicError
		require.NoError(t, dec.Decode(&e), body)
		assert.Equal(t, "error", e.Type)
		assert.Equal(t, codeOrType, e.Error.Type)
		assert.NotEmpty(t, e.Error.Message)
		return e.Error.Message
	}
	var e openaiError
	require.NoError(t, dec.Decode(&e), body)
	assert.Equal(t, codeOrType, e.Error.Code)
	assert.NotEmpty(t, e.Error.Type)
	assert.NotEmpty(t, e.Error.Message)
	return e.Error.Message
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK}, func(c *Config) { c.MaxBody = 1024 })
	h.b.pools["nourl"] = []*memKey{{cred: Credential{ID: "n1", AccessToken: "sk-SECRET-n1"}}}
	big := `{"model":"m","pad":"` + strings.Repeat("x", 2000) + `"}`
	for _, tc := range []struct {
		name      string
		path      string
		body      string
		headers   []string
		status    int
		anthropic bool
		code      string
		msg       string
	}{
		{"missing token", "/openai/chat/completions", chatBody, []string{"Authorization:"}, 401, false, "invalid_api_key", "gateway token"},
		{"wrong token", "/openai/chat/completions", chatBody, []string{"Authorization: Bearer cpgw-wrong"}, 401, false, "invalid_api_key", "gateway token"},
		{"upstream key instead of token", "/openai/chat/completions", chatBody, []string{"Authorization: Bearer " + openaiKey(1)}, 401, false, "invalid_api_key", "gateway token"},
		{"wrong x-api-key, anthropic format", "/anthropic/v1/messages", chatBody, []string{"Authorization:", "X-Api-Key: nope"}, 401, true, "authentication_error", "gateway token"},
		{"missing token, anthropic format", "/anthropic/v1/messages", chatBody, []string{"Authorization:"}, 401, true, "authentication_error", "gateway token"},
		{"non-loopback Host", "/openai/chat/completions", chatBody, []string{"Host: evil.example"}, 403, false, "host_not_allowed", "Host"},
		{"rebinding name", "/openai/chat/completions", chatBody, []string{"Host: localhost.evil.example:8484"}, 403, false, "host_not_allowed", "Host"},
		{"LAN address as Host", "/anthropic/v1/messages", chatBody, []string{"Host: 192.168.1.10"}, 403, true, "permission_error", "Host"},
		{"Origin header", "/openai/chat/completions", chatBody, []string{"Origin: https://evil.example"}, 403, false, "origin_not_allowed", "web pages"},
		{"Origin even from localhost", "/anthropic/v1/messages", chatBody, []string{"Origin: http://localhost:3000"}, 403, true, "permission_error", "web pages"},
		{"oversized body", "/openai/chat/completions", big, nil, 413, false, "request_too_large", "1024"},
		{"oversized body, anthropic format", "/anthropic/v1/messages", big, nil, 413, true, "request_too_large", "1024"},
		{"unknown pool", "/nosuch/chat/completions", chatBody, nil, 404, false, "unknown_pool", `"nosuch"`},
		{"unknown anthropic-like pool", "/anthropic-work/v1/messages", chatBody, nil, 404, true, "not_found_error", `"anthropic-work"`},
		{"bad pool name", "/bad%20pool/chat", chatBody, nil, 404, false, "unknown_pool", "pool name"},
		{"no pool", "/", "", nil, 404, false, "unknown_pool", "pool name"},
		// Pool names are what the pool takes for a provider, and no other.
		{"upper-case pool name", "/OpenAI/chat/completions", chatBody, nil, 404, false, "unknown_pool", "lower case"},
		{"pool name too long", "/" + strings.Repeat("a", 65) + "/chat/completions", chatBody, nil, 404, false, "unknown_pool", "pool name"},
		{"pool name not starting with a letter or digit", "/-openai/chat/completions", chatBody, nil, 404, false, "unknown_pool", "pool name"},
		{"dot segment", "/openai/./chat/completions", chatBody, nil, 404, false, "unknown_pool", ".."},
		{"dot-dot segment", "/openai/v1/../../x", chatBody, nil, 404, false, "unknown_pool", ".."},
		{"pool without upstream", "/nourl/chat/completions", chatBody, nil, 404, false, "no_upstream", "[upstreams]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.requestHost(tc.path, tc.body, tc.headers...)
			msg := assertError(t, resp, tc.status, tc.anthropic, tc.code)
			assert.Contains(t, msg, tc.msg)
			assert.Empty(t, h.up.Requests(), "the upstream must never see a refused request")
		})
	}
	// A chunked body of unknown length is cut at MaxBody too.
	req, err := http.NewRequest("POST", h.url+"/openai/chat/completions", io.MultiReader(strings.NewReader(big)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+gwToken)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	assertError(t, resp, 413, false, "request_too_large")
	assert.Empty(t, h.up.Requests())
	assert.Empty(t, h.b.Reports())
}

// requestHost is request with "Host: x" setting the request's Host.
func (h *harness) requestHost(path, body string, headers ...string) *http.Response {
	h.t.Helper()
	var rest []string
	host := ""
	for _, kv := range headers {
		if v, ok := strings.CutPrefix(kv, "Host: "); ok {
			host = v
		} else {
			rest = append(rest, kv)
		}
	}
	if host == "" {
		return h.request("POST", path, body, rest...)
	}
	req, err := http.NewRequest("POST", h.url+path, strings.NewReader(body))
	require.NoError(h.t, err)
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+gwToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	return resp
}

func TestRefusesAbsoluteRequestURL(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	for _, target := range []string{
		h.up.URL + "/v1/chat/completions", // the gateway as an open proxy to where the request says
		h.url + "/openai/chat/completions",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		require.NoError(t, err)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			target, strings.TrimPrefix(h.url, "http://"), gwToken, len(chatBody), chatBody)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body := readAll(t, resp)
		conn.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		assert.Contains(t, body, "no open proxy")
	}
	assert.Empty(t, h.up.Requests())
}

func TestValidateAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8484", "127.0.0.1:0", "[::1]:8484", "localhost:1", "LOCALHOST:1", "127.1.2.3:80"} {
		assert.NoError(t, ValidateAddr(ok), ok)
	}
	for _, bad := range []string{"0.0.0.0:8484", ":8484", "[::]:8484", "192.168.1.10:8484", "10.0.0.1:1",
		"example.com:8484", "localhost.example.com:1", "[fe80::1%eth0]:1", "[::ffff:10.0.0.1]:1"} {
		err := ValidateAddr(bad)
		assert.ErrorIs(t, err, ErrNotLoopback, bad)
		assert.ErrorContains(t, err, "listens only on 127.0.0.1, [::1] or localhost")
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ""} {
		assert.ErrorContains(t, ValidateAddr(bad), "listen address", bad)
	}
	_, err := New(Config{Addr: "0.0.0.0:8484", Token: gwToken}, newMemBackend(fixedClock, nil))
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorIs(t, err, ErrNotLoopback)
}

func TestNewRefusesBadConfig(t *testing.T) {
	b := newMemBackend(fixedClock, nil)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "token is required"},
		{Config{Token: gwToken, Upstreams: map[string]string{"x": "ftp://h"}}, "upstreams.x: scheme"},
		{Config{Token: gwToken, Upstreams: map[string]string{"x": "https://user:" + marker + "@h"}}, "upstreams.x: user info"},
		{Config{Token: gwToken, Upstreams: map[string]string{"x": "https://h/v1?key=" + marker}}, "upstreams.x: query"},
		{Config{Token: gwToken, Upstreams: map[string]string{"x": "/v1"}}, "upstreams.x: scheme"},
		{Config{Token: gwToken, Upstreams: map[string]string{"a b": "https://h"}}, `pool name "a b"`},
		{Config{Token: gwToken, Upstreams: map[string]string{"OpenAI": "https://h"}}, `pool name "OpenAI"`},
		{Config{Token: gwToken, Upstreams: map[string]string{strings.Repeat("p", 65): "https://h"}}, "longer than 64"},
		{Config{Token: gwToken, MaxAttempts: -1}, "must not be negative"},
	} {
		_, err := New(tc.cfg, b)
		assert.ErrorIs(t, err, ErrConfig, tc.want)
		assert.ErrorContains(t, err, tc.want)
		if err != nil {
			assert.NotContains(t, err.Error(), marker, "a config error quotes no URL that could hold a key")
		}
	}
	_, err := New(Config{Token: gwToken}, nil)
	assert.ErrorIs(t, err, ErrConfig)
}
