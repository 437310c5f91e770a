package gateway

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/epoch"
	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

func TestNoneAvailableAnswers429WithRetryAfter(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK, gt.OK})
	h.b.markDown("openai", epoch.Seconds(testNow)+42.3)
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	assert.Equal(t, "43", resp.Header.Get("Retry-After"), "rounded up, so the client never comes back early")
	assert.Empty(t, resp.Header.Get("X-Should-Retry"))
	msg := assertError(t, resp, 429, false, "no_credential_available")
	assert.Contains(t, msg, "retry in 43 s")
	assert.Empty(t, h.up.Requests())

	h.b.markDown("anthropic", epoch.Seconds(testNow)+5)
	resp = h.request("POST", "/anthropic/v1/messages", chatBody)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	assertError(t, resp, 429, true, "rate_limit_error")
}

func TestNoneAvailableAndNoneRecovers(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	h.b.markDown("openai", 0)
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	assert.Empty(t, resp.Header.Get("Retry-After"), "nothing comes back by itself: no time to promise")
	assert.Equal(t, "false", resp.Header.Get("X-Should-Retry"), "the SDKs' own retries would be in vain")
	msg := assertError(t, resp, 429, false, "no_credential_available")
	assert.Contains(t, msg, "none comes back by itself")
}

func TestPoolRunsDryDuringRetries(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.Invalidated})
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	assert.Equal(t, "60", resp.Header.Get("Retry-After"), "k1's cooldown ends first; k2 is dead")
	msg := assertError(t, resp, 429, false, "no_credential_available")
	assert.Contains(t, msg, "tried 2 credential(s)")
	assert.Equal(t, [][3]string{{"k1", "429", "rate_limit_exceeded"}, {"k2", "401", "token_invalidated"}}, reportsOf(h.b.Reports()))
}

func TestNetworkErrorIs502AndReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	h := newHarness(t, []gt.Behaviour{gt.OK, gt.OK}, func(c *Config) {
		c.Upstreams["openai"] = dead + "/v1"
		c.Upstreams["anthropic"] = dead
	})
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	msg := assertError(t, resp, 502, false, ReasonNetwork)
	assert.Contains(t, msg, "connection refused")
	resp = h.request("POST", "/anthropic/v1/messages", chatBody)
	assertError(t, resp, 502, true, "api_error")
	assert.Equal(t, [][3]string{{"k1", "502", ReasonNetwork}, {"a1", "502", ReasonNetwork}}, reportsOf(h.b.Reports()),
		"a network error is not retried with another key")
	assert.Nil(t, h.b.Reports()[0].Header)
}

func TestUpstreamTLSIsVerified(t *testing.T) {
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached an upstream whose certificate nobody trusts")
	}))
	defer tlsUp.Close()
	h := newHarness(t, []gt.Behaviour{gt.OK}, func(c *Config) { c.Upstreams["openai"] = tlsUp.URL })
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	msg := assertError(t, resp, 502, false, ReasonNetwork)
	assert.Contains(t, msg, "certificate")
}

func TestUnknownPoolIsOneLabel(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	for _, p := range []string{"/a/x", "/b/x", "/c/x"} {
		readAll(t, h.request("POST", p, chatBody))
	}
	readAll(t, h.request("POST", "/openai/chat/completions", chatBody, "Authorization: Bearer wrong"))
	readAll(t, h.request("POST", "/openai/chat/completions", chatBody))
	got := gatherText(t, h.s)
	assert.Contains(t, got, `credpool_gateway_requests_total{attempts="0",pool="unknown",status="404"} 3`)
	assert.Contains(t, got, `credpool_gateway_requests_total{attempts="0",pool="-",status="401"} 1`)
	assert.Contains(t, got, `credpool_gateway_requests_total{attempts="1",pool="openai",status="200"} 1`)
	assert.Contains(t, got, `credpool_gateway_upstream_latency_seconds_count{pool="openai"} 1`)
	assert.NotContains(t, got, `pool="a"`)
}

// A name the pool cannot have (upper case, too long, a space) is no pool,
// counted as an unknown one, and never asked of the backend; a path of the
// wrong shape is refused before routing.
func TestPoolNameThePoolCannotHave(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.OK})
	for _, p := range []string{"/OpenAI/chat/completions", "/" + strings.Repeat("a", 65) + "/x", "/bad%20pool/x", "/"} {
		assertError(t, h.request("POST", p, chatBody), 404, false, "unknown_pool")
	}
	assertError(t, h.request("POST", "/openai/../x", chatBody), 404, false, "unknown_pool")
	assert.Empty(t, h.b.Selects(), "the backend was never asked")
	got := gatherText(t, h.s)
	assert.Contains(t, got, `credpool_gateway_requests_total{attempts="0",pool="unknown",status="404"} 4`)
	assert.Contains(t, got, `credpool_gateway_requests_total{attempts="0",pool="-",status="404"} 1`)
}
