package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// The real Codex CLI, with the gateway as a custom model provider
// (gatewaytest.CodexConfig), runs a turn against a fake Responses API
// upstream, through a rate-limited key it never hears of.
func TestCodexExec(t *testing.T) {
	if err := gt.CodexReady(); err != nil {
		t.Skip("Codex test skipped: " + err.Error())
	}
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.OK})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, logs, err := gt.RunCodex(ctx, h.url+"/openai", gwToken, "gpt-test", "Say hello.")
	require.NoError(t, err, "codex stderr:\n%s", logs)
	assert.Contains(t, out, gt.Text, "codex stderr:\n%s", logs)

	reqs := h.up.Requests()
	require.Len(t, reqs, 2, "one turn: the rate-limited attempt and its retry")
	for _, r := range reqs {
		assert.Equal(t, "/v1/responses", r.Path)
		assert.True(t, r.Stream)
		assert.Equal(t, "gpt-test", r.Model)
		noGatewayToken(t, r.Header)
	}
	assert.Equal(t, []string{openaiKey(1), openaiKey(2)}, h.up.Keys())
	assert.Equal(t, [][3]string{{"k1", "429", "rate_limit_exceeded"}, {"k2", "200", ""}}, reportsOf(h.b.Reports()))
}
