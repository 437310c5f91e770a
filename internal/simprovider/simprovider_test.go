package simprovider

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/quota"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// A key's budget is spent by RPM calls, the next is a 429 with Retry-After,
// and a request's worth comes back after 60/RPM seconds. credpool's own
// header parser reads every answer.
func TestBudgetAndHeaders(t *testing.T) {
	p := New([]Key{{Token: "sk-sim-a", RPM: 6}, {Token: "sk-sim-b", RPM: 60}})
	for i := range 6 {
		a := p.Call("sk-sim-a", t0)
		require.Equal(t, 200, a.Status, "call %d", i)
		obs := quota.Parse(header(a.Headers), t0)
		require.Empty(t, obs.Ignored, "every header is real-shaped")
		require.Equal(t, "openai/requests", obs.Windows[0].Key)
		assert.Equal(t, float64(5-i), obs.Windows[0].Remaining)
		assert.Equal(t, 6.0, obs.Windows[0].Limit)
		// The reset is when the bucket is full again: 10 s per request used.
		assert.InDelta(t, float64(t0.Unix())+10*float64(i+1), obs.Windows[0].ResetAt, 1e-3)
	}
	a := p.Call("sk-sim-a", t0)
	require.Equal(t, 429, a.Status)
	assert.Equal(t, "10", a.Headers["Retry-After"])
	assert.Equal(t, "10000", a.Headers["Retry-After-Ms"])
	assert.Contains(t, a.Body, `"code":"rate_limit_exceeded"`)
	assert.Contains(t, a.Body, "try again in 10s")
	var s quota.State
	s.Apply(quota.Parse(header(a.Headers), t0))
	until, blocked := s.Blocked(t0, 0, "")
	assert.True(t, blocked)
	assert.InDelta(t, float64(t0.Unix())+60, until, 1e-3, "blocked until the bucket is full")

	assert.Equal(t, 200, p.Call("sk-sim-b", t0).Status, "keys have their own buckets")
	assert.Equal(t, 429, p.Call("sk-sim-a", t0.Add(9*time.Second)).Status)
	assert.Equal(t, 200, p.Call("sk-sim-a", t0.Add(10*time.Second)).Status)
	assert.Equal(t, 429, p.Call("sk-sim-a", t0.Add(10*time.Second)).Status)
	assert.Equal(t, 200, p.Call("sk-sim-a", t0.Add(time.Hour)).Status, "refilled")
	assert.Equal(t, 9, p.Served)
	assert.Equal(t, 3, p.Limited)
	assert.Equal(t, 401, p.Call("sk-unknown", t0).Status)
}

func TestGoDuration(t *testing.T) {
	for sec, want := range map[float64]string{360: "6m0s", 1.5: "1.5s", 0.012: "12ms", 59.5674: "59.567s", -1: "0s"} {
		assert.Equal(t, want, goDuration(sec), "%v s", sec)
	}
}
