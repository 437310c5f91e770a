package main

import (
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// A trace is the demand of one simulated hour: when each agent wants to
// make a call, and how long the provider takes to answer it. It does not
// depend on the strategy under test, so every strategy serves the same
// demand. It is generated from a seed, so a run is repeatable.
type trace struct {
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration_ns"`
	// Phases are the demand multipliers of consecutive phaseLen blocks.
	Phases []float64    `json:"phases"`
	Agents []agentTrace `json:"agents"`
}

type agentTrace struct {
	Calls []call `json:"calls"`
}

// call is one request an agent wants to make.
type call struct {
	At      time.Duration `json:"at_ns"`      // since the start
	Latency time.Duration `json:"latency_ns"` // of a 200 answer
}

// traceParams shape the demand.
type traceParams struct {
	Seed     uint64
	Duration time.Duration
	Agents   int
	// PerAgentRPM is an agent's mean call rate at a multiplier of 1.
	PerAgentRPM float64
	// MeanLatency is the mean time to a 200 answer (log-normal, sigma 0.5).
	MeanLatency time.Duration
}

// phaseLen is the length of a block of constant demand.
const phaseLen = 5 * time.Minute

// phaseLevels are the demand multipliers a block draws from: quiet spells,
// ordinary work and bursts (every agent busy at once, as when a batch job
// or a long refactor starts).
var phaseLevels = []float64{0.3, 0.7, 1, 1, 1.3, 2.2}

// genTrace draws a trace: per block a multiplier, then per agent a Poisson
// stream of calls at PerAgentRPM times the multiplier of its block.
func genTrace(p traceParams) trace {
	rng := rand.New(rand.NewPCG(p.Seed, 0x5eed))
	tr := trace{Seed: p.Seed, Duration: p.Duration}
	blocks := int(math.Ceil(float64(p.Duration) / float64(phaseLen)))
	for range blocks {
		tr.Phases = append(tr.Phases, phaseLevels[rng.IntN(len(phaseLevels))])
	}
	maxLevel := slices.Max(phaseLevels)
	mu := math.Log(p.MeanLatency.Seconds()) - 0.125 // log-normal mean = exp(mu + sigma²/2), sigma 0.5
	for range p.Agents {
		var at agentTrace
		// Thinning: draw at the highest rate, keep a call with the ratio of
		// its block's rate to it.
		rate := p.PerAgentRPM * maxLevel / 60 // per second
		for t := 0.0; ; {
			t += rng.ExpFloat64() / rate
			d := time.Duration(t * float64(time.Second))
			if d >= p.Duration {
				break
			}
			if rng.Float64() >= tr.Phases[int(d/phaseLen)]/maxLevel {
				continue
			}
			lat := math.Exp(mu + 0.5*rng.NormFloat64())
			at.Calls = append(at.Calls, call{At: d, Latency: time.Duration(lat * float64(time.Second))})
		}
		tr.Agents = append(tr.Agents, at)
	}
	return tr
}

// calls is the number of calls in the trace.
func (tr trace) calls() int {
	n := 0
	for _, a := range tr.Agents {
		n += len(a.Calls)
	}
	return n
}

func (tr trace) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(tr)
}
