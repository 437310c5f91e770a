package socketapi

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
)

func TestMetrics(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	ctx := context.Background()
	_, err := c.Select(ctx, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	_, err = c.Report(ctx, "openrouter", apitype.ReportRequest{APIKeyHint: secretAccess, StatusCode: 429, Message: "key " + secretAccess + " limited"})
	require.NoError(t, err)
	_, err = c.AddEntry(ctx, "openrouter", apitype.AddRequest{Label: "x", AccessToken: secretAdded, RefreshToken: secretRefresh})
	require.NoError(t, err)
	f.mu.Lock()
	f.none = true
	f.mu.Unlock()
	_, err = c.Select(ctx, "openrouter", apitype.SelectRequest{})
	require.Error(t, err)
	_, err = c.Pool(ctx, "openrouter/../../"+secretAccess) // a raw path must not become a label
	require.Error(t, err)

	text, err := c.Metrics(ctx)
	require.NoError(t, err)
	for _, want := range []string{
		`credpool_selections_total{provider="openrouter",result="ok"} 1`,
		`credpool_selections_total{provider="openrouter",result="none"} 1`,
		`credpool_reports_total{code="429",provider="openrouter"} 1`,
		`credpool_request_duration_seconds_count{route="POST /v1/pools/{provider}/select"} 2`,
		`credpool_request_duration_seconds_count{route="GET /v1/pools/{provider}"} 1`,
		`credpool_transitions_total{status="exhausted"} 5`,
		`credpool_transitions_total{status="dead"} 1`,
		`credpool_transitions_total{status="ok"} 2`,
		`credpool_reloads_total 4`,
		`credpool_reload_errors_total 1`,
		`credpool_prunes_total 3`,
		`credpool_entries{provider="openrouter",status="ok"} 1`,
		`credpool_entries{provider="openrouter",status="exhausted"} 1`,
		`credpool_entries{provider="openrouter",status="dead"} 1`,
		"go_goroutines", "process_",
	} {
		assert.Contains(t, text, want)
	}
	for _, secret := range []string{secretAccess, secretRefresh, secretAdded, "wR2"} {
		assert.NotContains(t, text, secret)
	}
	assert.False(t, strings.Contains(text, "/v1/pools/openrouter/"), "a raw path leaked into a label")
	for _, secret := range []string{secretAccess, secretRefresh, secretAdded} {
		assert.NotContains(t, ts.logs.String(), secret)
	}
}

// Collectors of ServerOptions are served on /metrics beside the server's
// own: the daemon's gateway counts its requests there.
func TestMetricsServeExtraCollectors(t *testing.T) {
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "credpool_test_extra_total", Help: "A collector passed in."})
	extra.Add(3)
	ts := startServer(t, newFake(), ServerOptions{Collectors: []prometheus.Collector{extra}})
	text, err := newTestClient(t, ts).Metrics(context.Background())
	require.NoError(t, err)
	assert.Contains(t, text, "credpool_test_extra_total 3")
	assert.Contains(t, text, `credpool_transitions_total{status="dead"} 1`, "the server's own collectors are still there")
}

func TestModelMetrics(t *testing.T) {
	f := newFake()
	f.mu.Lock()
	v := f.pools["openrouter"]
	v.Entries[0].ModelCooldowns = map[string]float64{"claude-a": 1700003600, "claude-b": 1700003600}
	v.Entries[1].ModelCooldowns = map[string]float64{"claude-a": 1700003600}
	v.Entries[1].QuotaUntil = 1700000060
	f.pools["openrouter"] = v
	f.mu.Unlock()
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	ctx := context.Background()
	report := func(model string) {
		t.Helper()
		_, err := c.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "a1b2c3", StatusCode: 429, Model: model})
		require.NoError(t, err)
	}
	report("claude-a")
	report("claude-a")
	report("claude-b")
	report("") // credential-wide: not a model cooldown
	long := strings.Repeat("m", 150)
	report(long)
	report("sk-ant-api03-" + secretAccess + "-model") // a careless client's token is never a label
	for i := range 120 {
		report("model-" + strconv.Itoa(i))
	}

	text, err := c.Metrics(ctx)
	require.NoError(t, err)
	for _, want := range []string{
		`credpool_model_cooldowns_total{model="claude-a",provider="openrouter"} 2`,
		`credpool_model_cooldowns_total{model="claude-b",provider="openrouter"} 1`,
		`credpool_model_cooldowns_total{model="` + strings.Repeat("m", maxModelLabel) + `",provider="openrouter"} 1`,
		`credpool_model_cooldowns_total{model="_redacted",provider="openrouter"} 1`,
		`credpool_model_benched{model="claude-a",provider="openrouter"} 2`,
		`credpool_model_benched{model="claude-b",provider="openrouter"} 1`,
		`credpool_entries_out_of_budget{provider="openrouter"} 1`,
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, secretAccess)
	assert.NotContains(t, text, long)
	// Past the bound every new name counts under _other: 120 - (100 - 3
	// names already seen: claude-a, claude-b, the long one) = 23.
	assert.Contains(t, text, `credpool_model_cooldowns_total{model="_other",provider="openrouter"} 23`)
	labels := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, `credpool_model_cooldowns_total{model="`); ok {
			labels[rest[:strings.IndexByte(rest, '"')]] = true
		}
	}
	assert.LessOrEqual(t, len(labels), maxModelLabels+2, "model labels are bounded (plus _other and _redacted)")
}
