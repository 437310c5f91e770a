package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireStampede and wireOAuth spell out the --oauth --json names that
// scripts and docs/BENCHMARKS.md read.
type wireStampede struct {
	Agents      int     `json:"agents"`
	Generations int     `json:"generations"`
	PostsMin    int     `json:"posts_per_generation_min"`
	PostsMax    int     `json:"posts_per_generation_max"`
	Refused     int     `json:"refused"`
	AllNewP50MS float64 `json:"all_new_p50_ms"`
	AllNewMaxMS float64 `json:"all_new_max_ms"`
}

type wireOAuth struct {
	Stampede     wireStampede `json:"stampede"`
	StampedeFile wireStampede `json:"stampede_file_model"`
	Relogin      map[string]struct {
		N     int     `json:"n"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
	} `json:"external_relogin"`
	AuthRelogin struct {
		N int `json:"n"`
	} `json:"auth_json_relogin"`
	SelectIdle wireOp `json:"select_no_refresh"`
	SelectBusy wireOp `json:"select_during_refresh"`
}

// One small --oauth run against a real daemon and the fake token endpoint:
// every generation of the stampede costs exactly one POST in both models,
// every re-login is measured, and selects run with and without a refresh
// in flight.
func TestOAuthBenchAgainstRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real daemon")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"--json", "--credpool-bin", credpoolBin(t), "--oauth", "2", "--clients", "8", "--recovery", "3",
		"--duration", "150ms", "--warmup", "20ms"}
	require.NoError(t, run(ctx, args, &out, &errb), "stderr: %s", errb.String())
	var res wireOAuth
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	for name, st := range map[string]wireStampede{"credpool": res.Stampede, "file model": res.StampedeFile} {
		assert.Equal(t, 8, st.Agents, name)
		assert.Equal(t, 2, st.Generations, name)
		assert.Equal(t, 1, st.PostsMin, name)
		assert.Equal(t, 1, st.PostsMax, name)
		assert.Zero(t, st.Refused, name)
		assert.Positive(t, st.AllNewP50MS, name)
		assert.LessOrEqual(t, st.AllNewP50MS, st.AllNewMaxMS, name)
	}
	for _, w := range reloginWriters {
		r, ok := res.Relogin[w.source]
		require.True(t, ok, w.source)
		assert.Equal(t, 3, r.N, w.source)
		assert.Positive(t, r.P50MS, w.source)
		assert.LessOrEqual(t, r.P50MS, r.P99MS, w.source)
	}
	assert.Equal(t, 3, res.AuthRelogin.N)
	assertSane(t, "select, no refresh", res.SelectIdle)
	assertSane(t, "select, refresh in flight", res.SelectBusy)
}
