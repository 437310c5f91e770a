package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireGateway spells out the --json field names of a --gateway run.
type wireGateway struct {
	Small      wireWorkload `json:"small"`
	TTFB       wireWorkload `json:"ttfb"`
	Throughput wireWorkload `json:"throughput"`
	Streams    wireWorkload `json:"streams"`
	Held       struct {
		Streams  int   `json:"streams"`
		RSSBytes int64 `json:"rss_bytes"`
	} `json:"held"`
	IdleRSSBytes int64 `json:"idle_rss_bytes"`
}

type wireWorkload struct {
	Clients    int            `json:"clients"`
	Direct     wireOp         `json:"direct"`
	Proxy      wireOp         `json:"proxy"`
	Gateway    wireOp         `json:"gateway"`
	ExtraP50US float64        `json:"extra_p50_us"`
	CPUPerOpUS float64        `json:"daemon_cpu_per_op_us"`
	DaemonRSS  int64          `json:"daemon_rss_bytes"`
	Errors     map[string]int `json:"errors"`
}

// The --gateway mode runs every workload direct, through the bare proxy
// and through a real daemon's gateway, against the fake provider, with no
// request failing on any path.
func TestBenchGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real daemon")
	}
	res := runJSON(t, "--gateway", "--duration", "200ms", "--warmup", "20ms", "--entries", "2",
		"--gateway-clients", "4", "--gateway-streams", "8")
	g := res.Gateway
	require.NotNil(t, g)
	for name, w := range map[string]wireWorkload{"small": g.Small, "ttfb": g.TTFB, "throughput": g.Throughput, "streams": g.Streams} {
		assertSane(t, name+" direct", w.Direct)
		assertSane(t, name+" proxy", w.Proxy)
		assertSane(t, name+" gateway", w.Gateway)
		assert.Empty(t, w.Errors, name)
		assert.Positive(t, w.CPUPerOpUS, "%s: the daemon did the gateway's work", name)
		assert.Positive(t, w.DaemonRSS, name)
	}
	assert.Equal(t, 1, g.Small.Clients)
	assert.Equal(t, 4, g.Throughput.Clients)
	assert.Equal(t, 8, g.Streams.Clients)
	assert.Equal(t, 8, g.Held.Streams)
	assert.Positive(t, g.Held.RSSBytes)
	assert.Positive(t, g.IdleRSSBytes)
	assert.Positive(t, res.Daemon.RSSBytes)
}

func TestGatewayFlagsRejectBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--gateway", "--socket", "/tmp/x.sock"}, {"--gateway", "--baseline"}, {"--gateway", "--rate", "10"},
		{"--gateway", "--duration", "0"}, {"--gateway", "--gateway-streams", "0"},
	} {
		t.Run(args[1], func(t *testing.T) {
			var errb bytes.Buffer
			_, err := parseFlags(args, &errb)
			assert.ErrorIs(t, err, errUsage)
			assert.Contains(t, errb.String(), "--gateway")
		})
	}
}
