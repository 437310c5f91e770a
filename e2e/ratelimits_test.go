package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
)

// twoKeys is an auth.json with two api_key entries, aaaaaa (priority 0)
// and bbbbbb, in each of the given providers.
func twoKeys(t *testing.T, providers ...string) []byte {
	t.Helper()
	pools := map[string]any{}
	for _, p := range providers {
		pools[p] = []any{
			map[string]any{"id": "aaaaaa", "label": "main", "auth_type": "api_key", "priority": 0, "source": "manual",
				"access_token": accessToken(t), "request_count": 0},
			map[string]any{"id": "bbbbbb", "label": "spare", "auth_type": "api_key", "priority": 1, "source": "manual",
				"access_token": accessToken(t), "request_count": 0},
		}
	}
	out, err := json.MarshalIndent(map[string]any{"version": 1, "providers": map[string]any{}, "credential_pool": pools}, "", "  ")
	require.NoError(t, err)
	return out
}

// openAIAnswer is an OpenAI answer's rate-limit headers as the API sends
// them, with remaining requests left.
func openAIAnswer(remaining string) map[string]string {
	return map[string]string{
		"X-Ratelimit-Limit-Requests": "500", "X-Ratelimit-Remaining-Requests": remaining,
		"X-Ratelimit-Reset-Requests": "6m0s", "X-Ratelimit-Limit-Tokens": "30000",
		"X-Ratelimit-Remaining-Tokens": "29000", "X-Ratelimit-Reset-Tokens": "2m0s",
		"X-Request-Id": "req_abc", "Openai-Processing-Ms": "412",
	}
}

func selectID(t *testing.T, h *harness, provider, model string) string {
	t.Helper()
	sel, err := h.Client.Select(bg, provider, apitype.SelectRequest{Model: model})
	require.NoError(t, err)
	return sel.Credential.ID
}

// A 200 whose headers say no request is left moves selection to the other
// key before any 429, and status says why.
func TestQuotaZeroRemainingRotatesBeforeA429(t *testing.T) {
	t.Parallel()
	h := start(t, twoKeys(t, "openai"), daemontest.Options{})
	require.Equal(t, "aaaaaa", selectID(t, h, "openai", ""))

	res, err := h.Client.Report(bg, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 200, Headers: openAIAnswer("100")})
	require.NoError(t, err)
	assert.Nil(t, res.Marked)
	assert.Equal(t, "aaaaaa", selectID(t, h, "openai", ""), "a fifth of the budget left is budget")

	res, err = h.Client.Report(bg, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 200, Headers: openAIAnswer("0")})
	require.NoError(t, err)
	assert.Nil(t, res.Marked, "a 200 marks nothing")
	require.NotNil(t, res.Next)
	assert.Equal(t, "bbbbbb", res.Next.ID)
	assert.True(t, res.Persisted)
	assert.Equal(t, "bbbbbb", selectID(t, h, "openai", ""))

	v, err := h.Client.Pool(bg, "openai")
	require.NoError(t, err)
	a := v.Entries[0]
	assert.Equal(t, "ok", a.Status, "quota is not a verdict")
	assert.False(t, a.Available)
	require.NotNil(t, a.QuotaUntil)
	require.NotEmpty(t, a.Quota)
	keys := []string{}
	for _, w := range a.Quota {
		keys = append(keys, w.Key)
	}
	assert.Equal(t, []string{"openai/requests", "openai/tokens"}, keys)
	assert.Equal(t, 0.0, apitype.Value(a.Quota[0].Remaining))
	assert.True(t, a.Quota[0].Blocking)

	st := h.credpool("", "status", "openai")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, lineWith(st.stdout, "aaaaaa"), "out of budget until reset in 5m: openai/requests", st.stdout)
	// Quota is observational: auth.json never holds it.
	raw, err := os.ReadFile(h.AuthFile)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "ratelimit")
	assert.NotContains(t, string(raw), "openai/requests")
}

// An Anthropic 429 for model A benches the key for A only: the same key is
// handed out for model B, the event says which model, auth.json holds the
// cooldown Hermes reads, and the metrics count it.
func TestAnthropicModelCooldownLeavesOtherModels(t *testing.T) {
	t.Parallel()
	h := start(t, twoKeys(t, "anthropic"), daemontest.Options{})
	f := h.follow()
	const modelA, modelB = "claude-opus-4-1", "claude-sonnet-4-5"

	before := float64(time.Now().Unix())
	res, err := h.Client.Report(bg, "anthropic", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 429, Model: modelA,
		Reason: "rate_limit_error", Headers: map[string]string{"retry-after": "600",
			"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "12",
			"anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z"}})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.Equal(t, modelA, res.Marked.Model)
	assert.Equal(t, "ok", res.Marked.Status, "the key stays ok for the other models")
	assert.InDelta(t, before+600, apitype.Value(res.Marked.Until), 5, "the Retry-After header is the model's cooldown")
	assert.True(t, res.Persisted)

	assert.Equal(t, "aaaaaa", selectID(t, h, "anthropic", modelB), "the same key serves model B")
	assert.Equal(t, "bbbbbb", selectID(t, h, "anthropic", modelA))
	assert.Equal(t, "bbbbbb", selectID(t, h, "anthropic", ""), "a caller that does not know its model stays on the safe side")

	ev := f.wait(t, string(pool.ChangeModelCooldown), "aaaaaa")
	assert.Equal(t, modelA, ev.Model)
	assert.Equal(t, "anthropic", ev.Provider)
	assert.Equal(t, 429, ev.Code)
	assert.InDelta(t, apitype.Value(res.Marked.Until), ev.Until, 1e-3)

	// On disk as Hermes keeps it: the row's status untouched, the model's
	// cooldown and when it was observed. (The answer came after the write.)
	e := entryOf(t, h.disk(), "anthropic", "aaaaaa")
	assert.Nil(t, e["last_status"])
	cooldowns, _ := e["model_cooldowns"].(map[string]any)
	observed, _ := e["model_cooldown_observed_at"].(map[string]any)
	require.Contains(t, cooldowns, modelA)
	require.Contains(t, observed, modelA)
	until, err := cooldowns[modelA].(json.Number).Float64()
	require.NoError(t, err)
	assert.InDelta(t, apitype.Value(res.Marked.Until), until, 1e-3)

	st := h.credpool("", "status", "anthropic")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, lineWith(st.stdout, "aaaaaa"), "ok, "+modelA+" benched 9m", st.stdout)

	text, err := h.Client.Metrics(bg)
	require.NoError(t, err)
	assert.Contains(t, text, `credpool_model_cooldowns_total{model="claude-opus-4-1",provider="anthropic"} 1`)
	assert.Contains(t, text, `credpool_model_benched{model="claude-opus-4-1",provider="anthropic"} 1`)
	daemontest.NoSecret(t, "metrics", text)
}

// Quota readings live in credpool's own state file: a restart keeps them,
// so the key with no budget left stays skipped.
func TestQuotaSurvivesADaemonRestart(t *testing.T) {
	t.Parallel()
	h := start(t, twoKeys(t, "openai"), daemontest.Options{})
	_, err := h.Client.Report(bg, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 200, Headers: openAIAnswer("0")})
	require.NoError(t, err)
	require.Equal(t, "bbbbbb", selectID(t, h, "openai", ""))
	require.NoError(t, h.Stop(), "SIGTERM must give exit 0")

	state, err := os.ReadFile(filepath.Join(filepath.Dir(h.AuthFile), "credpool-state.json"))
	require.NoError(t, err, "the state file is written by the time the daemon exits")
	assert.Contains(t, string(state), `"openai/requests"`)
	daemontest.NoSecret(t, "state file", string(state))

	require.NoError(t, h.Restart())
	assert.Equal(t, "bbbbbb", selectID(t, h, "openai", ""), "the restarted daemon still skips the key with no budget")
	v, err := h.Client.Pool(bg, "openai")
	require.NoError(t, err)
	require.NotNil(t, v.Entries[0].QuotaUntil)
	assert.Equal(t, "openai/requests", v.Entries[0].Quota[0].Key)
	assert.Nil(t, v.Entries[1].QuotaUntil)
}
