package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// The brief's scenario: key 1 is rate limited, key 2 invalidated, key 3
// good. The client sees only key 3's answer; the pool hears all three.
func TestRotatesPastRateLimitAndInvalidatedKey(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.Invalidated, gt.OK})
	resp := h.request("POST", "/openai/chat/completions?trace=1", chatBody)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, gt.Text)

	assert.Equal(t, []string{openaiKey(1), openaiKey(2), openaiKey(3)}, h.up.Keys())
	for _, r := range h.up.Requests() {
		assert.Equal(t, "/v1/chat/completions", r.Path)
		assert.Equal(t, "trace=1", r.RawQuery)
		assert.Equal(t, "gpt-test", r.Model, "the body is sent again whole on each attempt")
	}
	assert.Equal(t, [][3]string{
		{"k1", "429", "rate_limit_exceeded"},
		{"k2", "401", "token_invalidated"},
		{"k3", "200", ""},
	}, reportsOf(h.b.Reports()))
	reps := h.b.Reports()
	assert.Equal(t, "30", reps[0].Header.Get("Retry-After"), "the pool gets the upstream's headers")
	assert.Equal(t, "99", reps[2].Header.Get("X-Ratelimit-Remaining-Requests"))
	assert.Equal(t, "Your authentication token has been invalidated.", reps[1].Message)
	for _, r := range reps {
		assert.Equal(t, "gpt-test", r.Model)
		assert.Equal(t, "openai", r.Pool)
	}
	assert.Equal(t, []memSelect{
		{Pool: "openai", Model: "gpt-test"},
		{Pool: "openai", Model: "gpt-test", Exclude: []string{"k1"}},
		{Pool: "openai", Model: "gpt-test", Exclude: []string{"k1", "k2"}},
	}, h.b.Selects())
	assert.Contains(t, h.logs.String(), "credential=k3 status=200 attempts=3")
}

func TestPaymentRequiredIsRetriedToo(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.Billing, gt.OK})
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	assert.Equal(t, [][3]string{{"k1", "402", "insufficient_quota"}, {"k2", "200", ""}}, reportsOf(h.b.Reports()))
}

func TestStreamPassesThrough(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.OK})
	resp := h.request("POST", "/openai/chat/completions", chatStreamBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, gt.Text, chatText(t, resp.Body))
	resp.Body.Close()
	assert.Equal(t, [][3]string{{"k1", "429", "rate_limit_exceeded"}, {"k2", "200", ""}}, reportsOf(h.b.Reports()))
}

// A slow stream reaches the client event by event: the upstream sends the
// next event only after the client has read the one before, so a gateway
// that buffered would deadlock here instead of passing.
func TestSlowStreamIsFlushedPerEvent(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.Stepped})
	resp := h.request("POST", "/openai/chat/completions", chatStreamBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	defer resp.Body.Close()
	events := gt.SSEData(resp.Body)
	for i, piece := range gt.StreamPieces {
		if i > 0 {
			require.NoError(t, h.up.Step())
		}
		if i == 0 {
			<-events // the role chunk
		}
		ev, ok := <-events
		require.True(t, ok, "stream ended before piece %d", i)
		assert.Equal(t, piece, chunkContent(t, ev))
	}
	assert.Empty(t, h.b.Reports(), "a 2xx is reported when its body ends")
	require.NoError(t, h.up.Step())
	for range events {
	}
	waitFor(t, "the report at the end of the stream", func() bool { return len(h.b.Reports()) == 1 })
	assert.Equal(t, [][3]string{{"k1", "200", ""}}, reportsOf(h.b.Reports()))
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.Hang})
	ctx, cancel := context.WithCancel(context.Background())
	resp := h.requestCtx(ctx, "POST", "/openai/chat/completions", chatStreamBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := gt.SSEData(resp.Body)
	<-events
	<-events // the first piece: the stream is under way
	cancel()
	select {
	case k := <-h.up.Cancelled():
		assert.Equal(t, openaiKey(1), k)
	case <-timeout():
		t.Fatal("the upstream never saw its request cancelled")
	}
	waitFor(t, "the report", func() bool { return len(h.b.Reports()) == 1 })
	assert.Equal(t, [][3]string{{"k1", "200", ""}}, reportsOf(h.b.Reports()),
		"a client that leaves is not the credential's failure")
}

func TestStreamCutHalfWayIsReportedAsFailure(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.Cut})
	resp := h.request("POST", "/openai/chat/completions", chatStreamBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err, "the client must see the stream break, not a clean end")
	assert.Contains(t, string(got), `"hello"`)
	assert.NotContains(t, string(got), "[DONE]")
	waitFor(t, "the report", func() bool { return len(h.b.Reports()) == 1 })
	r := h.b.Reports()[0]
	assert.Equal(t, [3]string{"k1", "502", ReasonStreamInterrupted}, [3]string{r.CredentialID, "502", r.Reason})
	assert.Equal(t, http.StatusBadGateway, r.StatusCode)
	waitFor(t, "the log line", func() bool { return strings.Contains(h.logs.String(), "reason=stream_interrupted") })
}

func TestServerErrorGoesBackAsItIs(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.ServerError, gt.OK})
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	body := readAll(t, resp)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, body, "The server had an error.")
	assert.Equal(t, []string{openaiKey(1)}, h.up.Keys(), "5xx is not retried with another key")
	assert.Equal(t, [][3]string{{"k1", "500", "server_error"}}, reportsOf(h.b.Reports()))
}

func TestMaxAttemptsBoundsRetries(t *testing.T) {
	h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.RateLimited, gt.RateLimited, gt.OK},
		func(c *Config) { c.MaxAttempts = 3 })
	resp := h.request("POST", "/openai/chat/completions", chatBody)
	body := readAll(t, resp)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Contains(t, body, "rate_limit_exceeded", "the last upstream answer, whole")
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	assert.Len(t, h.up.Requests(), 3)
	assert.Len(t, h.b.Reports(), 3)
}

// chatText joins the content deltas of an OpenAI chat stream.
func chatText(t *testing.T, r io.Reader) string {
	var b strings.Builder
	for ev := range gt.SSEData(r) {
		b.WriteString(chunkContent(t, ev))
	}
	return b.String()
}

func chunkContent(t *testing.T, data string) string {
	if data == "[DONE]" {
		return ""
	}
	var c struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &c), data)
	if len(c.Choices) == 0 {
		return ""
	}
	return c.Choices[0].Delta.Content
}
