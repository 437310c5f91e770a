package socketapi

import (
	"context"
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
