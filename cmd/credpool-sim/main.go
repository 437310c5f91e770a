// Command credpool-sim replays a seeded one-hour provider trace through
// credpool's real pool logic (package pool, on a simulated clock: no
// sleeping) against a simulated provider with per-key request budgets
// (internal/simprovider: OpenAI's x-ratelimit-* headers and 429s), once per
// setup, and prints how many 429s each setup met. docs/BENCHMARKS.md has
// the figures and what the simulation does and does not model.
//
//	credpool-sim                                  # the documented run: seed 1, 1 h, 16 agents
//	credpool-sim --seed 7 --keys 60,40,30,30 --json
//	credpool-sim --trace-out trace.json           # the generated trace, for a look
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/credpool/credpool/internal/simprovider"
	"github.com/credpool/credpool/pool"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "credpool-sim:", err)
		}
		os.Exit(2)
	}
}

// report is the --json output.
type report struct {
	Seed      uint64    `json:"seed"`
	DurationS float64   `json:"duration_s"`
	Agents    int       `json:"agents"`
	KeysRPM   []int     `json:"keys_rpm"`
	Calls     int       `json:"trace_calls"`
	Phases    []float64 `json:"phases"`
	Outcomes  []outcome `json:"outcomes"`
	// Reduction is 1 - 429s(headroom + headers) / 429s(fill_first + headers),
	// and ReductionVsBefore the same against fill_first with failures only.
	Reduction         float64 `json:"reduction_429"`
	ReductionVsBefore float64 `json:"reduction_429_vs_failures_only"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credpool-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of the trace")
	duration := fs.Duration("duration", time.Hour, "simulated time")
	agents := fs.Int("agents", 16, "agents making calls")
	keysFlag := fs.String("keys", "60,40,30,30", "the keys' limits, requests per minute each")
	agentRPM := fs.Float64("agent-rpm", 7, "an agent's mean calls per minute in an ordinary phase")
	latency := fs.Duration("latency", 4*time.Second, "mean time to a 200 answer")
	lease := fs.Bool("lease", false, "agents select with a lease (as the Python client's credential() does)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	traceOut := fs.String("trace-out", "", "also write the generated trace to this file (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rpms []int
	var keys []simprovider.Key
	for i, f := range strings.Split(*keysFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--keys: %q is not a whole number of requests per minute ≥ 1", f)
		}
		rpms = append(rpms, n)
		keys = append(keys, simprovider.Key{Token: fmt.Sprintf("sk-sim-key-%02d", i), RPM: n})
	}
	if *agents < 1 || *duration <= 0 || *agentRPM <= 0 || *latency <= 0 {
		return errors.New("--agents, --duration, --agent-rpm and --latency must be positive")
	}
	tr := genTrace(traceParams{Seed: *seed, Duration: *duration, Agents: *agents, PerAgentRPM: *agentRPM, MeanLatency: *latency})
	if *traceOut != "" {
		f, err := os.Create(*traceOut)
		if err != nil {
			return err
		}
		if err := tr.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	rep := report{Seed: *seed, DurationS: duration.Seconds(), Agents: *agents, KeysRPM: rpms, Calls: tr.calls(), Phases: tr.Phases}
	setups := []setup{
		{Strategy: pool.FillFirst, Lease: *lease},
		{Strategy: pool.FillFirst, Headers: true, Lease: *lease},
		{Strategy: pool.RoundRobin, Headers: true, Lease: *lease},
		{Strategy: pool.Headroom, Headers: true, Lease: *lease},
	}
	for _, s := range setups {
		o, err := simulate(tr, keys, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		rep.Outcomes = append(rep.Outcomes, o)
	}
	before, fill, headroom := rep.Outcomes[0].Limited, rep.Outcomes[1].Limited, rep.Outcomes[3].Limited
	rep.Reduction, rep.ReductionVsBefore = reduction(headroom, fill), reduction(headroom, before)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeText(stdout, rep)
	return nil
}

func reduction(after, before int) float64 {
	if before == 0 {
		return 0
	}
	return float64(int((1-float64(after)/float64(before))*1000)) / 1000
}

func writeText(w io.Writer, rep report) {
	fmt.Fprintf(w, "credpool-sim: seed %d, %s simulated, %d agents, keys %v requests/min, %d calls in the trace\n",
		rep.Seed, time.Duration(rep.DurationS*float64(time.Second)), rep.Agents, rep.KeysRPM, rep.Calls)
	fmt.Fprintf(w, "demand per 5 min: %v\n\n", rep.Phases)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\tcalls\t200\t429\tnone available\tdone\tunfinished\tdelay p50 s\tp99 s\tmax s\t")
	for _, o := range rep.Outcomes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", o.Setup, o.Calls, o.OK, o.Limited, o.NoneAvailable,
			o.Done, o.Unfinished, o.DelayP50, o.DelayP99, o.DelayMax)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n429s, headroom + headers against fill_first + headers: %.1f %% fewer (goal: 90 %%)\n", rep.Reduction*100)
	fmt.Fprintf(w, "429s, headroom + headers against fill_first with failures only: %.1f %% fewer\n", rep.ReductionVsBefore*100)
}
