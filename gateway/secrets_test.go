package gateway

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// Every path through the gateway, at debug level: no upstream key and no
// gateway token (both carry the marker) in any log line or metric.
func TestNoSecretInLogsOrMetrics(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.Invalidated, gt.Billing, gt.OK})
	h.b.pools["anthropic"][0].cred.AuthType = AuthOAuth
	// A key the upstream does not know: its 401 quotes the key, as OpenAI's does.
	h.b.pools["stranger"] = []*memKey{{cred: Credential{ID: "s1", AccessToken: "sk-SECRET-unknown-to-upstream", BaseURL: h.up.URL + "/v1"}}}
	// A stream cut half way, which ReverseProxy logs on its own.
	cut := gt.NewUpstream(t, map[string]gt.Behaviour{openaiKey(1): gt.Cut})
	h.b.pools["cut"] = []*memKey{{cred: Credential{ID: "c1", AccessToken: openaiKey(1), BaseURL: cut.URL + "/v1"}}}

	readAll(t, h.request("POST", "/openai/chat/completions", chatBody))
	readAll(t, h.request("POST", "/openai/chat/completions", chatStreamBody))
	readAll(t, h.request("POST", "/anthropic/v1/messages", `{"model":"c","stream":true}`, "Authorization:", "X-Api-Key: "+gwToken))
	readAll(t, h.request("POST", "/openai/chat/completions", chatBody, "Authorization: Bearer cpgw-SECRET-wrong"))
	readAll(t, h.request("POST", "/openai/chat/completions", chatBody, "X-Api-Key: sk-SECRET-guess", "Authorization:"))
	readAll(t, h.request("POST", "/openai/chat/completions?key=SECRET", chatBody, "Origin: http://SECRET.example"))
	readAll(t, h.request("POST", "/nosuch/x", chatBody))
	// A key pasted into the path, as a pool or after one: the client's
	// own text, logged with the token shape cut out.
	readAll(t, h.request("POST", "/sk-SECRET-pasted-0123456789/chat/completions", chatBody))
	readAll(t, h.request("GET", "/openai/models/sk-SECRET-pasted-0123456789", ""))
	// The gateway token pasted into the path: not token-shaped, but known.
	readAll(t, h.request("POST", "/"+gwToken+"/chat/completions", chatBody))
	readAll(t, h.request("GET", "/openai/models/"+gwToken, ""))
	readAll(t, h.request("POST", "/stranger/chat/completions", chatBody))
	h.b.markDown("openai", 0)
	readAll(t, h.request("POST", "/openai/chat/completions", chatBody))
	resp := h.request("POST", "/cut/chat/completions", chatStreamBody)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, "the cut stream's log line", func() bool { return strings.Contains(h.logs.String(), "reason=stream_interrupted") })

	logs := h.logs.String()
	require.Contains(t, logs, "level=DEBUG", "the test must see debug lines")
	require.Contains(t, logs, "gateway attempt")
	assert.NotContains(t, logs, marker)
	metrics := gatherText(t, h.s)
	require.Contains(t, metrics, "credpool_gateway_requests_total")
	assert.NotContains(t, metrics, marker)
	// The pool, which redacts on its own, does get the upstream's message.
	var quoted bool
	for _, r := range h.b.Reports() {
		quoted = quoted || strings.Contains(r.Message, "sk-SECRET-unknown")
	}
	assert.True(t, quoted, "the stranger's 401 reached the pool")
}
