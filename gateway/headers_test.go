package gateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/tokeninfo"
)

// noGatewayToken fails if the gateway token is in any header the upstream
// saw.
func noGatewayToken(t *testing.T, h http.Header) {
	t.Helper()
	for k, vs := range h {
		for _, v := range vs {
			assert.NotContains(t, v, gwToken, "header %s carries the gateway token upstream", k)
		}
	}
}

func TestOpenAICredentialReplacesClientHeaders(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	resp := h.request("POST", "/openai/chat/completions", chatBody,
		"X-Api-Key: "+gwToken, "Api-Key: "+gwToken, "X-Goog-Api-Key: "+gwToken,
		"Proxy-Authorization: Bearer "+gwToken, "Chatgpt-Account-Id: client-account",
		"OpenAI-Beta: assistants=v2", "Connection: X-Drop-Me", "X-Drop-Me: 1")
	assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	reqs := h.up.Requests()
	require.Len(t, reqs, 1)
	got := reqs[0].Header
	noGatewayToken(t, got)
	assert.Equal(t, "Bearer "+openaiKey(1), got.Get("Authorization"))
	for _, k := range []string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Proxy-Authorization", "Chatgpt-Account-Id", "X-Drop-Me", "X-Forwarded-For"} {
		assert.Empty(t, got.Values(k), k)
	}
	assert.Equal(t, "assistants=v2", got.Get("OpenAI-Beta"), "other headers pass")
}

func TestAnthropicAPIKeyGoesInXAPIKey(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	resp := h.request("POST", "/anthropic/v1/messages", `{"model":"claude-test","max_tokens":5,"messages":[]}`,
		"Authorization:", "X-Api-Key: "+gwToken, "Anthropic-Version: 2023-06-01")
	body := readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `"type":"message"`)
	got := h.up.Requests()[0]
	noGatewayToken(t, got.Header)
	assert.Equal(t, "/v1/messages", got.Path)
	assert.Equal(t, anthropicKey(1), got.Header.Get("X-Api-Key"))
	assert.Empty(t, got.Header.Get("Authorization"))
	assert.Empty(t, got.Header.Get("Anthropic-Beta"), "no OAuth beta for an API key")
	assert.Equal(t, "2023-06-01", got.Header.Get("Anthropic-Version"))
	assert.Equal(t, "claude-test", h.b.Selects()[0].Model)
}

func TestAnthropicOAuthTokenGoesAsBearerWithBeta(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	h.b.pools["anthropic"][0].cred.AuthType = AuthOAuth
	resp := h.request("POST", "/anthropic/v1/messages", `{"model":"claude-test"}`,
		"Anthropic-Beta: fine-grained-tool-streaming-2025-05-14, oauth-2025-04-20")
	assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	got := h.up.Requests()[0].Header
	noGatewayToken(t, got)
	assert.Equal(t, "Bearer "+anthropicKey(1), got.Get("Authorization"))
	assert.Empty(t, got.Get("X-Api-Key"))
	assert.Equal(t, []string{"fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20"}, got.Values("Anthropic-Beta"),
		"merged with the client's, once")

	resp = h.request("POST", "/anthropic/v1/messages", `{"model":"claude-test"}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	assert.Equal(t, "oauth-2025-04-20", h.up.Requests()[1].Header.Get("Anthropic-Beta"))
}

func TestMergeBeta(t *testing.T) {
	assert.Equal(t, "oauth-2025-04-20", mergeBeta(nil, anthropicOAuthBeta))
	assert.Equal(t, "a,b,oauth-2025-04-20", mergeBeta([]string{"a, b", "a"}, anthropicOAuthBeta))
	assert.Equal(t, "oauth-2025-04-20,a", mergeBeta([]string{" oauth-2025-04-20 ,a,"}, anthropicOAuthBeta))
}

func TestChatGPTOAuthTokenCarriesItsAccount(t *testing.T) {
	claims := `{"https://api.openai.com/auth":{"chatgpt_account_id":"acct-123"},"exp":1}`
	jwt := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig" + marker
	assert.Equal(t, "acct-123", tokeninfo.ChatGPTAccountID(jwt))
	for _, notJWT := range []string{"sk-" + marker, "a.b.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"x":1}`)) + ".c", ""} {
		assert.Empty(t, tokeninfo.ChatGPTAccountID(notJWT))
	}
	up := gt.NewUpstream(t, map[string]gt.Behaviour{jwt: gt.OK})
	b := newMemBackend(fixedClock, map[string][]Credential{
		"openai-codex": {{ID: "c1", AccessToken: jwt, AuthType: AuthOAuth}},
	})
	_, base := startServer(t, Config{Addr: "127.0.0.1:0", Token: gwToken, Now: fixedClock,
		Upstreams: map[string]string{"openai-codex": up.URL + "/backend-api/codex"}}, b)
	req, _ := http.NewRequest("POST", base+"/openai-codex/responses", strings.NewReader(`{"model":"gpt-5","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+gwToken)
	req.Header.Set("Chatgpt-Account-Id", "the-clients-own")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Contains(t, readAll(t, resp), "response.completed")
	got := up.Requests()[0]
	assert.Equal(t, "/backend-api/codex/responses", got.Path)
	assert.Equal(t, "acct-123", got.Header.Get("Chatgpt-Account-Id"))
}

func TestCredentialBaseURLWins(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK, gt.OK})
	h.b.pools["openai"][0].cred.BaseURL = h.up.URL + "/own/v9/"
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	assert.Equal(t, "/own/v9/chat/completions", h.up.Requests()[0].Path)

	h.b.pools["openai"][0].cred.BaseURL = "ftp://" + marker + "@x"
	resp = h.request("POST", "/openai/chat/completions", chatBody)
	msg := assertError(t, resp, 502, false, "bad_upstream")
	assert.Contains(t, msg, "credential k1")
	assert.NotContains(t, msg, marker)
}

func TestJoinURL(t *testing.T) {
	base, err := ParseBase("https://api.example.com/v1/")
	require.NoError(t, err)
	for _, tc := range []struct{ target, want string }{
		{"/openai/chat/completions", "https://api.example.com/v1/chat/completions"},
		{"/openai/models?limit=2&after=x%20y", "https://api.example.com/v1/models?limit=2&after=x%20y"},
		{"/openai/files/a%2Fb/content", "https://api.example.com/v1/files/a%2Fb/content"},
		{"/openai", "https://api.example.com/v1"},
		{"/openai/", "https://api.example.com/v1/"},
		{"/custom%3Atogether.ai/x", "https://api.example.com/v1/x"},
	} {
		u, err := url.ParseRequestURI(tc.target)
		require.NoError(t, err)
		pool, rt, ok := splitRoute(&http.Request{URL: u})
		require.True(t, ok, tc.target)
		assert.Contains(t, []string{"openai", "custom:together.ai"}, pool)
		assert.Equal(t, tc.want, joinURL(base, rt).String(), tc.target)
	}
}

func TestDefaultUpstreams(t *testing.T) {
	s, err := New(Config{Token: gwToken, Upstreams: map[string]string{"openai": "http://127.0.0.1:1/v1"}},
		newMemBackend(fixedClock, nil))
	require.NoError(t, err)
	want := map[string]string{
		"openai":       "http://127.0.0.1:1/v1", // the configured one wins
		"anthropic":    "https://api.anthropic.com",
		"openrouter":   "https://openrouter.ai/api/v1",
		"openai-codex": "https://chatgpt.com/backend-api/codex",
		"xai":          "https://api.x.ai/v1",
		"deepseek":     "https://api.deepseek.com",
		"groq":         "https://api.groq.com/openai/v1",
		"mistral":      "https://api.mistral.ai/v1",
		"gemini":       "https://generativelanguage.googleapis.com/v1beta/openai",
		"together":     "https://api.together.ai/v1",
		"fireworks":    "https://api.fireworks.ai/inference/v1",
	}
	for pool, base := range want {
		u, e := s.upstreamFor(pool, Credential{})
		require.Nil(t, e, pool)
		assert.Equal(t, base, u.String(), pool)
	}
	assert.Len(t, DefaultUpstreams, len(want))
	_, e := s.upstreamFor("custom:together.ai", Credential{})
	require.NotNil(t, e)
	assert.Equal(t, "no_upstream", e.code)
}

func TestRequestWithoutBody(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	resp := h.request("GET", "/openai/models?limit=1", "")
	body := readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "fake-model")
	got := h.up.Requests()[0]
	assert.Equal(t, "GET", got.Method)
	assert.Equal(t, "/v1/models", got.Path)
	assert.Equal(t, "limit=1", got.RawQuery)
	assert.Equal(t, "", h.b.Selects()[0].Model, "no body, no model")
}
