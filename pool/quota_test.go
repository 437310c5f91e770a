package pool

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openAIHeaders are an OpenAI answer's rate-limit headers, with remaining
// requests left and the window resetting in reset.
func openAIHeaders(remaining int, reset string) map[string]string {
	return map[string]string{
		"x-ratelimit-limit-requests":     "500",
		"x-ratelimit-remaining-requests": strconv.Itoa(remaining),
		"x-ratelimit-reset-requests":     reset,
	}
}

func TestQuotaHeadersRotateBeforeTheWall(t *testing.T) {
	disk := map[string][]Entry{"openai": {ent("a", 0), ent("b", 1)}}
	t.Run("a 200 saying 0 remaining moves selection to the other before any 429", func(t *testing.T) {
		p, c := newTest(t, Config{}, disk)
		res, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: openAIHeaders(0, "30s")})
		require.NoError(t, err)
		assert.Nil(t, res.Marked, "a 200 marks nothing")
		assert.Equal(t, StatusOK, viewOf(t, p, "openai", "a").Status)
		assert.Equal(t, "b", selectID(t, p, "openai", SelectOptions{}))
		assert.False(t, viewOf(t, p, "openai", "a").Available)
		c.advance(31 * time.Second)
		assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}), "back when the window resets")
	})
	t.Run("budget left keeps it", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		_, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: openAIHeaders(120, "30s")})
		require.NoError(t, err)
		assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}))
	})
	t.Run("the threshold is configurable", func(t *testing.T) {
		p, _ := newTest(t, Config{QuotaThreshold: 0.5}, disk)
		_, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: openAIHeaders(200, "30s")})
		require.NoError(t, err)
		assert.Equal(t, "b", selectID(t, p, "openai", SelectOptions{}), "60 % used is past a 0.5 threshold")
	})
	t.Run("200 but rejected is exhausted until the reset", func(t *testing.T) {
		p, c := newTest(t, Config{}, map[string][]Entry{"anthropic": {ent("a", 0), ent("b", 1)}})
		reset := strconv.FormatInt(c.t.Add(time.Hour).Unix(), 10)
		_, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 200, Headers: map[string]string{
			"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": reset}})
		require.NoError(t, err)
		assert.Equal(t, "b", selectID(t, p, "anthropic", SelectOptions{}))
		_, err = p.Report("anthropic", Report{CredentialID: "b", StatusCode: 200, Headers: map[string]string{
			"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": reset}})
		require.NoError(t, err)
		_, err = p.Select("anthropic", SelectOptions{})
		var none *NoneAvailableError
		require.ErrorAs(t, err, &none)
		assert.InDelta(t, c.epochOf()+3600, none.NextAvailableAt, 1, "the 503 says the earliest reset")
	})
	t.Run("garbage is ignored, named, never trusted", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		res, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: map[string]string{
			"x-ratelimit-remaining-requests": "none-left", "x-ratelimit-reset-requests": "soon", "authorization": "Bearer sk-SECRET-x"}})
		require.NoError(t, err)
		assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}))
		assert.ElementsMatch(t, []string{"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"}, res.Ignored)
	})
	t.Run("new tokens start with no readings", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		_, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: openAIHeaders(0, "1h")})
		require.NoError(t, err)
		p.Load(snapshotOf(map[string][]Entry{"openai": {ent("a", 0, withToken("sk-relogged-key-1")), ent("b", 1)}}))
		assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}))
	})
}

// Agents that select at the same moment see each other's calls: a
// selection counts against the request budget the last answer announced,
// until the next answer says what is left.
func TestSelectionsSpendTheKnownBudget(t *testing.T) {
	disk := map[string][]Entry{"openai": {ent("a", 0), ent("b", 1)}}
	p, _ := newTest(t, Config{}, disk)
	_, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: map[string]string{
		"x-ratelimit-limit-requests": "4", "x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "30s"}})
	require.NoError(t, err)
	assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}), "two left (the report's next is not a call)")
	assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}), "one left")
	assert.Equal(t, "b", selectID(t, p, "openai", SelectOptions{}), "a's last request is in flight")
	_, err = p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: map[string]string{
		"x-ratelimit-limit-requests": "4", "x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "5s"}})
	require.NoError(t, err)
	assert.Equal(t, "a", selectID(t, p, "openai", SelectOptions{}), "the provider's answer is the truth again")
	// An entry holding the same token spends the same budget.
	q, _ := newTest(t, Config{}, map[string][]Entry{"openai": {ent("a", 0), ent("alias", 1, withToken(tok("a"))), ent("b", 2)}})
	_, err = q.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: map[string]string{
		"x-ratelimit-limit-requests": "4", "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "30s"}})
	require.NoError(t, err)
	assert.Equal(t, "a", selectID(t, q, "openai", SelectOptions{}))
	assert.Equal(t, "b", selectID(t, q, "openai", SelectOptions{}), "alias holds a's token: its budget is spent too")
}

func TestHeadroomStrategy(t *testing.T) {
	disk := map[string][]Entry{"openai": {ent("a", 0), ent("b", 1), ent("c", 2)}}
	p, _ := newTest(t, Config{DefaultStrategy: Headroom}, disk)
	for id, left := range map[string]int{"a": 50, "b": 400, "c": 200} {
		_, err := p.Report("openai", Report{CredentialID: id, StatusCode: 200, Headers: openAIHeaders(left, "40s")})
		require.NoError(t, err)
	}
	assert.Equal(t, "b", selectID(t, p, "openai", SelectOptions{}), "the most budget left")
	// Ties go to the one that resets soonest. (Utilization windows, which
	// selections do not count down, keep the tie exact.)
	q, c := newTest(t, Config{DefaultStrategy: Headroom}, disk)
	for id, reset := range map[string]time.Duration{"a": 50 * time.Minute, "b": 40 * time.Minute, "c": 10 * time.Minute} {
		_, err := q.Report("openai", Report{CredentialID: id, StatusCode: 200, Headers: map[string]string{
			"anthropic-ratelimit-unified-5h-utilization": "0.5",
			"anthropic-ratelimit-unified-5h-reset":       strconv.FormatInt(c.t.Add(reset).Unix(), 10)}})
		require.NoError(t, err)
	}
	assert.Equal(t, "c", selectID(t, q, "openai", SelectOptions{}))
}

func TestLongRetryAfterRotates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		entries    []Entry
		retryAfter string
		wait       float64 // the answer's RetryAfter
		next       bool
	}{
		{"long wait, another key: rotate", []Entry{ent("a", 0), ent("b", 1)}, "3600", 0, true},
		{"short wait, another key: rotate", []Entry{ent("a", 0), ent("b", 1)}, "5", 0, true},
		{"short wait, no other key: wait it out", []Entry{ent("a", 0), ent("b", 1, deadAgo(time.Hour))}, "5", 5, false},
		{"long wait, no other key: not told to sleep through it", []Entry{ent("a", 0), ent("b", 1, deadAgo(time.Hour))}, "3600", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: tc.entries})
			res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429, Headers: map[string]string{"retry-after": tc.retryAfter}})
			require.NoError(t, err)
			assert.Equal(t, StatusExhausted, res.Marked.Status, "the credential is benched either way")
			assert.Equal(t, tc.next, res.Next != nil)
			assert.InDelta(t, tc.wait, res.RetryAfter, 1e-6)
		})
	}
}

func TestQuotaSurvivesARestart(t *testing.T) {
	disk := map[string][]Entry{"openai": {ent("a", 0), ent("b", 1)}}
	p, c := newTest(t, Config{}, disk)
	_, err := p.Report("openai", Report{CredentialID: "a", StatusCode: 200, Headers: openAIHeaders(0, "10m")})
	require.NoError(t, err)
	require.True(t, p.StateDirty())
	st := p.ExportState()
	require.Len(t, st.Quota, 2-1)
	q := New(Config{Now: c.Now})
	q.ImportState(st)
	q.Load(snapshotOf(cloneDisk(disk)))
	assert.Equal(t, "b", selectID(t, q, "openai", SelectOptions{}))
}
