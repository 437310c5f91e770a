package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/simprovider"
	"github.com/credpool/credpool/pool"
)

var testKeys = []simprovider.Key{{Token: "sk-sim-key-00", RPM: 60}, {Token: "sk-sim-key-01", RPM: 40},
	{Token: "sk-sim-key-02", RPM: 30}, {Token: "sk-sim-key-03", RPM: 30}}

func params(seed uint64, d time.Duration) traceParams {
	return traceParams{Seed: seed, Duration: d, Agents: 16, PerAgentRPM: 7, MeanLatency: 4 * time.Second}
}

func TestTraceIsSeeded(t *testing.T) {
	a, b := genTrace(params(3, 20*time.Minute)), genTrace(params(3, 20*time.Minute))
	assert.Equal(t, a, b, "the same seed gives the same trace")
	c := genTrace(params(4, 20*time.Minute))
	assert.NotEqual(t, a.Agents, c.Agents)
	require.Len(t, a.Agents, 16)
	require.Len(t, a.Phases, 4)
	for _, ag := range a.Agents {
		for i, c := range ag.Calls {
			assert.Less(t, c.At, 20*time.Minute)
			assert.Positive(t, c.Latency)
			if i > 0 {
				assert.GreaterOrEqual(t, c.At, ag.Calls[i-1].At, "calls in order")
			}
		}
	}
	// About 7 calls a minute per agent at the mean multiplier of the blocks.
	mean := 0.0
	for _, m := range a.Phases {
		mean += m / float64(len(a.Phases))
	}
	assert.InDelta(t, 16*7*20*mean, a.calls(), 16*7*20*mean*0.15)
}

// Every call of the trace is accounted for, whatever the setup, and a
// setup's outcome depends on the seed alone.
func TestSimulationAccounts(t *testing.T) {
	tr := genTrace(params(1, 15*time.Minute))
	for _, s := range []setup{{Strategy: pool.FillFirst}, {Strategy: pool.Headroom, Headers: true}, {Strategy: pool.FillFirst, Headers: true, Lease: true}} {
		t.Run(s.String(), func(t *testing.T) {
			o, err := simulate(tr, testKeys, s)
			require.NoError(t, err)
			assert.Equal(t, tr.calls(), o.Done+o.Unfinished)
			assert.Equal(t, o.OK, o.Done)
			inFlight := o.Calls - o.OK - o.Limited // answered after the end
			assert.GreaterOrEqual(t, inFlight, 0)
			assert.LessOrEqual(t, inFlight, len(tr.Agents), "an agent has one call in flight at most")
			sum := 0
			for _, n := range o.LimitedByPhase {
				sum += n
			}
			assert.Equal(t, o.Limited, sum)
			again, err := simulate(tr, testKeys, s)
			require.NoError(t, err)
			assert.Equal(t, o, again, "deterministic")
		})
	}
}

// The point of issue 11: reporting the headers of every answer rotates
// before the wall, and headroom spreads the calls.
func TestHeadersAndHeadroomAvoid429s(t *testing.T) {
	tr := genTrace(params(1, 30*time.Minute))
	before, err := simulate(tr, testKeys, setup{Strategy: pool.FillFirst})
	require.NoError(t, err)
	fill, err := simulate(tr, testKeys, setup{Strategy: pool.FillFirst, Headers: true})
	require.NoError(t, err)
	headroom, err := simulate(tr, testKeys, setup{Strategy: pool.Headroom, Headers: true})
	require.NoError(t, err)
	require.Positive(t, before.Limited)
	assert.Less(t, fill.Limited, before.Limited/4, "fill_first with headers: %d 429s, failures only: %d", fill.Limited, before.Limited)
	assert.Less(t, headroom.Limited, fill.Limited, "headroom: %d 429s, fill_first with headers: %d", headroom.Limited, fill.Limited)
	assert.GreaterOrEqual(t, headroom.Done, fill.Done)
}

func TestRunPrintsTheComparison(t *testing.T) {
	var out, errb bytes.Buffer
	require.NoError(t, run([]string{"--duration", "10m", "--json"}, &out, &errb), errb.String())
	var rep report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	require.Len(t, rep.Outcomes, 4)
	assert.Equal(t, []int{60, 40, 30, 30}, rep.KeysRPM)
	assert.Equal(t, pool.Headroom, rep.Outcomes[3].Setup.Strategy)
	f, h := rep.Outcomes[1].Limited, rep.Outcomes[3].Limited
	if f > 0 {
		assert.InDelta(t, 1-float64(h)/float64(f), rep.Reduction, 0.001)
	}
	out.Reset()
	require.NoError(t, run([]string{"--duration", "10m"}, &out, &errb))
	assert.Contains(t, out.String(), "headroom + headers")
	assert.Contains(t, out.String(), "fewer (goal: 90 %)")
	assert.Error(t, run([]string{"--keys", "60,x"}, &out, &errb))
}
