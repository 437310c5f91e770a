package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// The whole flow with distinctive tokens, with the daemon logging at debug:
// no token reaches the daemon's stderr, an event, /metrics or an answer,
// except the access token of select's credential and report's next; a
// refresh token appears in no answer at all.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{Args: []string{"--log-level", "debug"}})
	f := h.follow()

	// every checks an answer that may hold no secret at all.
	every := func(method, path, body string, want int) []byte {
		t.Helper()
		code, b := h.call(method, path, body)
		assert.Equal(t, want, code, "%s %s: %s", method, path, excerpt(b))
		answerHasNoSecret(t, method+" "+path, b)
		return b
	}
	// withCredential checks an answer that may carry access tokens at paths.
	withCredential := func(method, path, body string, want int, paths ...string) map[string]any {
		t.Helper()
		code, b := h.call(method, path, body)
		require.Equal(t, want, code, "%s %s: %s", method, path, excerpt(b))
		assert.NotContains(t, string(b), "rt-SECRET", "%s %s: a refresh token in the answer", method, path)
		answerHasNoSecret(t, method+" "+path, b, paths...)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(b, &doc))
		return doc
	}

	every("GET", "/v1/health", "", 200)
	every("GET", "/v1/pools", "", 200)
	every("GET", "/v1/pools/openrouter", "", 200)
	every("GET", "/v1/pools/openai-codex", "", 200)
	every("GET", "/v1/pools/no-such-pool", "", 404)

	// Selects, with and without a lease; a1b2c3 has a refresh token.
	sel := withCredential("POST", "/v1/pools/openrouter/select", `{"lease": true}`, 200, "credential.access_token")
	_ = withCredential("POST", "/v1/pools/openai-codex/select", `{}`, 200, "credential.access_token")
	cred := sel["credential"].(map[string]any)
	id, _ := cred["id"].(string)
	require.NotEmpty(t, id)
	token := accessTokenOnDisk(t, h, "openrouter", id)

	// Reports: by the token the agent used (api_key_hint), by a token that
	// matches nothing, by id with a terminal reason.
	withCredential("POST", "/v1/pools/openrouter/report",
		`{"api_key_hint": "`+token+`", "status_code": 429, "reason": "rate_limit_exceeded", "message": "slow down"}`, 200, "next.access_token")
	unmatched := withCredential("POST", "/v1/pools/openrouter/report", `{"api_key_hint": "sk-SECRET-e2e-unknown-key", "status_code": 401, "reason": "invalid_token"}`, 200, "next.access_token")
	assert.Nil(t, unmatched["marked"], "an unknown token marks nothing")
	withCredential("POST", "/v1/pools/openrouter/report", `{"credential_id": "77aa11", "status_code": 401, "reason": "token_invalidated"}`, 200, "next.access_token")
	withCredential("POST", "/v1/pools/openai-codex/report", `{"credential_id": "a1b2c3", "status_code": 401, "reason": "token_revoked"}`, 200, "next.access_token")
	every("POST", "/v1/pools/openrouter/select", `{}`, 503)

	// Adds, good and bad, with secrets in the body.
	added := accessToken(t)
	every("POST", "/v1/pools/openrouter/entries", `{"label": "leak-check", "access_token": "`+added+`", "refresh_token": "`+refreshToken(t)+`"}`, 201)
	every("POST", "/v1/pools/openrouter/entries", `{"label": "bad", "access_token": "`+accessToken(t)+`", "priority": "high"}`, 400)
	every("POST", "/v1/pools/openrouter/entries", `{"label": "bad", "access_token": "`+accessToken(t), 400)
	every("POST", "/v1/pools/openrouter/entries", `{"label": "bad", "access_token": "`+accessToken(t)+`", "nope": 1}`, 400)
	every("POST", "/v1/pools/openrouter/report", `{"api_key_hint": "`+accessToken(t)+`", "status_code": "429"}`, 400)
	every("POST", "/v1/pools/openrouter/reset", `{"target": "77aa11"}`, 200)
	every("GET", "/v1/pools/openrouter", "", 200)
	every("DELETE", "/v1/pools/openrouter/entries/leak-check", "", 200)
	// A token typed as the target is the caller's own input: its 404 may
	// echo it, but the daemon's log may not (checked at the end).
	code, _ := h.call("DELETE", "/v1/pools/openrouter/entries/"+accessToken(t), "")
	assert.Equal(t, 404, code)

	// Re-login with new secrets: recovered, and still nothing leaks.
	hermes(t, "tokens", h.AuthFile, "openai-codex", accessToken(t), refreshToken(t))
	f.wait(t, "entry.recovered", "a1b2c3")
	every("GET", "/v1/pools", "", 200)

	// Through the command line.
	for _, args := range [][]string{
		{"status"}, {"status", "--json"}, {"status", "openai-codex"},
		{"report", "openrouter", "--id", "9f8e7d", "--status", "429"},
		{"select", "openai-codex"},
	} {
		res := h.credpool("", args...)
		assert.Equal(t, 0, res.code, "%v: %s", args, res.stderr)
		daemontest.NoSecret(t, "credpool "+strings.Join(args, " "), res.stdout+res.stderr)
	}

	var metrics []byte
	code, metrics = h.call(http.MethodGet, "/metrics", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(metrics), "# TYPE", "a Prometheus exposition")
	daemontest.NoSecret(t, "/metrics", string(metrics))

	// The events of this flow all came through the stream.
	for _, typ := range []string{"entry.exhausted", "entry.dead", "entry.added", "entry.removed", "entry.recovered"} {
		_, ok := f.find(typ, "")
		assert.True(t, ok, "no %s event", typ)
	}
	// The daemon's stderr and the event lines are checked when the test
	// ends, after the daemon has stopped.
}

func accessTokenOnDisk(t *testing.T, h *harness, provider, id string) string {
	t.Helper()
	tok, _ := entryOf(t, h.disk(), provider, id)["access_token"].(string)
	require.True(t, strings.HasPrefix(tok, "sk-SECRET-"), "fixture token of %s: %q", id, tok)
	return tok
}

// An agent may pass the provider's error message on as it came, and some
// providers and proxies quote the key they were given. The daemon knows the
// entry's tokens and must not spread them from there into the file's
// last_error_message, the pool view, events or its log.
func TestReportedMessageQuotingTheTokenIsNotSpread(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	f := h.follow()
	token := accessTokenOnDisk(t, h, "openrouter", "77aa11")
	msg := "Incorrect API key provided: " + token + ". You can find your API key at https://example.invalid."
	code, b := h.call("POST", "/v1/pools/openrouter/report",
		`{"credential_id": "77aa11", "status_code": 401, "reason": "invalid_token", "message": `+jsonString(msg)+`}`)
	require.Equal(t, 200, code, string(b))
	answerHasNoSecret(t, "report", b, "next.access_token")
	f.wait(t, "entry.dead", "77aa11")

	code, b = h.call("GET", "/v1/pools/openrouter", "")
	require.Equal(t, 200, code)
	answerHasNoSecret(t, "pool view after a report quoting the token", b)
	daemontest.Eventually(t, "DEAD on disk", func() bool {
		return str(entryOf(t, h.disk(), "openrouter", "77aa11")["last_status"]) == "dead"
	})
	daemontest.NoSecret(t, "last_error_message on disk", str(entryOf(t, h.disk(), "openrouter", "77aa11")["last_error_message"]))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
