package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as the bench's echo child, as the
// real binary does.
func TestMain(m *testing.M) {
	if sock := os.Getenv(echoEnv); sock != "" {
		if err := serveEcho(sock); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if target := os.Getenv(proxyEnv); target != "" {
		if err := serveProxy(target); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// wireOp and wireResult spell out the --json field names that scripts
// read, so that a renamed field fails here.
type wireOp struct {
	Count   int     `json:"count"`
	OpsPerS float64 `json:"ops_per_s"`
	P50     float64 `json:"p50_us"`
	P90     float64 `json:"p90_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
}

type wireResult struct {
	Ops    map[string]wireOp `json:"ops"`
	Errors map[string]int    `json:"errors"`
	Daemon struct {
		RSSBytes int64   `json:"rss_bytes"`
		CPUS     float64 `json:"cpu_s"`
	} `json:"daemon"`
	Writes *struct {
		Count int64   `json:"count"`
		PerS  float64 `json:"per_s"`
	} `json:"writes"`
	Baseline *struct {
		File            wireOp  `json:"file"`
		Echo            wireOp  `json:"echo"`
		FileVsSelectP50 float64 `json:"file_vs_select_p50"`
	} `json:"baseline"`
	Recovery *struct {
		N     int     `json:"n"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
		MaxMS float64 `json:"max_ms"`
	} `json:"recovery"`
	HeaderReports *struct {
		Rounds  int    `json:"rounds"`
		Headers int    `json:"headers"`
		None    wireOp `json:"none"`
		With    wireOp `json:"with_headers"`
	} `json:"header_reports"`
	Gateway *wireGateway `json:"gateway"`
	Config  struct {
		Clients int    `json:"clients"`
		Mode    string `json:"mode"`
		Mix     map[string]int
	} `json:"config"`
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// credpoolBin builds cmd/credpool once for every run of the test process,
// as the bench itself would do per run.
func credpoolBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cpb-bin")
		if buildErr == nil {
			binPath, buildErr = credpoolBinary(context.Background(), "", binDir)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func runJSON(t *testing.T, args ...string) wireResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	args = append([]string{"--json", "--credpool-bin", credpoolBin(t)}, args...)
	require.NoError(t, run(ctx, args, &out, &errb), "stderr: %s", errb.String())
	var res wireResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	return res
}

func assertSane(t *testing.T, name string, op wireOp) {
	t.Helper()
	assert.Positive(t, op.Count, name)
	assert.Positive(t, op.OpsPerS, name)
	assert.Positive(t, op.P50, name)
	assert.LessOrEqual(t, op.P50, op.P90, name)
	assert.LessOrEqual(t, op.P90, op.P99, name)
	assert.LessOrEqual(t, op.P99, op.P999, name)
}

func TestBenchAgainstRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	t.Run("closed loop with mix, baseline and recovery", func(t *testing.T) {
		res := runJSON(t, "--clients", "2", "--duration", "200ms", "--warmup", "20ms",
			"--mix", "select=60,report=20,release=20", "--baseline", "--recovery", "3")
		assert.Equal(t, "closed", res.Config.Mode)
		for _, op := range []string{opSelect, opReport, opRelease} {
			require.Contains(t, res.Ops, op)
			assertSane(t, op, res.Ops[op])
		}
		assert.Zero(t, res.Errors["select_error"]+res.Errors["report_error"]+res.Errors["release_error"], "errors: %v", res.Errors)
		assert.Positive(t, res.Daemon.RSSBytes)
		assert.Positive(t, res.Daemon.CPUS)
		require.NotNil(t, res.Writes)
		assert.Positive(t, res.Writes.Count, "reports are persisted at once")

		require.NotNil(t, res.Baseline)
		assertSane(t, "file", res.Baseline.File)
		assertSane(t, "echo", res.Baseline.Echo)
		assert.Positive(t, res.Baseline.FileVsSelectP50)

		require.NotNil(t, res.Recovery)
		assert.Equal(t, 3, res.Recovery.N)
		assert.Positive(t, res.Recovery.P50MS)
		assert.LessOrEqual(t, res.Recovery.P50MS, res.Recovery.P99MS)
		assert.LessOrEqual(t, res.Recovery.P99MS, res.Recovery.MaxMS)
	})
	t.Run("reports with and without headers", func(t *testing.T) {
		res := runJSON(t, "--duration", "0", "--warmup", "20ms", "--header-reports", "30")
		require.NotNil(t, res.HeaderReports)
		assert.Equal(t, 30, res.HeaderReports.Rounds)
		assert.Equal(t, 20, res.HeaderReports.Headers)
		assert.Equal(t, 30, res.HeaderReports.None.Count)
		assert.Equal(t, 30, res.HeaderReports.With.Count)
		assert.Positive(t, res.HeaderReports.With.P50)
		assert.LessOrEqual(t, res.HeaderReports.With.P50, res.HeaderReports.With.P99)
	})
	t.Run("open loop", func(t *testing.T) {
		res := runJSON(t, "--clients", "2", "--rate", "200", "--duration", "300ms", "--warmup", "50ms", "--mix", "select=100")
		assert.Equal(t, "open", res.Config.Mode)
		require.Contains(t, res.Ops, opSelect)
		assertSane(t, opSelect, res.Ops[opSelect])
		// 200/s for 0.3 s is 60 due selects; all of them are sent.
		assert.InDelta(t, 60, res.Ops[opSelect].Count, 3)
		assert.NotContains(t, res.Ops, opReport)
	})
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    mix
		wantErr bool
	}{
		{in: "select=90,report=5,release=5", want: mix{opSelect: 90, opReport: 5, opRelease: 5}},
		{in: " select = 1 ", want: mix{opSelect: 1}},
		{in: "select=100,release=0", want: mix{opSelect: 100, opRelease: 0}},
		{in: "report=5", wantErr: true},
		{in: "select=1,fetch=2", wantErr: true},
		{in: "select", wantErr: true},
		{in: "select=-1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMix(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFlagsRejectBadUsage(t *testing.T) {
	for _, args := range [][]string{{"--clients", "0"}, {"--rate", "-1"}, {"--mix", "release=1"}, {"extra"}, {"--daemon-env", "nope"}} {
		t.Run(args[0], func(t *testing.T) {
			var errb bytes.Buffer
			_, err := parseFlags(args, &errb)
			assert.ErrorIs(t, err, errUsage)
			assert.NotEmpty(t, errb.String())
		})
	}
}
