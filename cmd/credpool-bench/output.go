package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

func writeJSON(w io.Writer, res *result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func writeText(w io.Writer, res *result) {
	if res.Gateway != nil {
		writeGatewayText(w, res)
		return
	}
	c := res.Config
	mode := fmt.Sprintf("closed loop, %d clients", c.Clients)
	if c.Mode == "open" {
		mode = fmt.Sprintf("open loop, %.0f ops/s over %d clients", c.Rate, c.Clients)
	}
	fmt.Fprintf(w, "credpool-bench: %s, %s measured after %s warm-up, mix %s, %d entries\n",
		mode, fmtSec(c.DurationS), fmtSec(c.WarmupS), c.Mix, res.Daemon.Entries)
	fmt.Fprintf(w, "machine: %s, %d cores, %s, %s\n\n", res.Machine.CPU, res.Machine.Cores, res.Machine.GoVersion, res.Machine.Date)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\tops/s\tp50 µs\tp90 µs\tp99 µs\tp99.9 µs\tmax µs\t")
	row := func(name string, s opStats) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, s.Count, s.OpsPerS, s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	ops := make([]string, 0, len(res.Ops))
	for op := range res.Ops {
		ops = append(ops, op)
	}
	order := []string{opSelect, opReport, opRelease, opReset}
	slices.SortFunc(ops, func(a, b string) int {
		return slices.Index(order, a) - slices.Index(order, b)
	})
	for _, op := range ops {
		row(op, res.Ops[op])
	}
	if b := res.Baseline; b != nil {
		row("file model", b.File)
		row("bare echo", b.Echo)
	}
	tw.Flush()
	if len(res.Errors) > 0 {
		var parts []string
		for k, n := range res.Errors {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
		slices.Sort(parts)
		fmt.Fprintf(w, "not counted above: %s\n", strings.Join(parts, " "))
	}
	if res.Resets > 0 {
		fmt.Fprintf(w, "pool resets after reports: %d\n", res.Resets)
	}
	if b := res.Baseline; b != nil {
		fmt.Fprintf(w, "\nselect vs bare echo: p50 %.2f×, p99 %.2f×\n", b.SelectVsEchoP50, b.SelectVsEchoP99)
		fmt.Fprintf(w, "file model vs select: p50 %.1f×, p99 %.1f×\n", b.FileVsSelectP50, b.FileVsSelectP99)
		fmt.Fprintf(w, "CPU per op: daemon select %.0f µs, bare echo %.0f µs\n",
			perOpUS(res.Daemon.LoadCPUS, res.Ops[opSelect].Count), perOpUS(b.EchoCPUS, b.Echo.Count))
	}

	d := res.Daemon
	fmt.Fprintln(w)
	if d.Note != "" {
		fmt.Fprintf(w, "daemon: %s\n", d.Note)
	} else {
		fmt.Fprintf(w, "daemon: pid %d, RSS %.1f MB (peak %.1f MB), CPU %.2f s total, %.2f s during the measured load, %d threads\n",
			d.PID, mb(d.RSSBytes), mb(d.HWMBytes), d.CPUS, d.LoadCPUS, d.Threads)
	}
	if wr := res.Writes; wr != nil {
		fmt.Fprintf(w, "auth.json writes: %d in %s (%.1f/s)\n", wr.Count, fmtSec(wr.WindowS), wr.PerS)
	}
	if r := res.Recovery; r != nil {
		fmt.Fprintf(w, "recovery (rename → select returns the entry), %d runs: p50 %.1f ms, p99 %.1f ms, max %.1f ms (entry.recovered event: p50 %.1f ms, max %.1f ms)\n",
			r.N, r.P50MS, r.P99MS, r.MaxMS, r.EventP50MS, r.EventMaxMS)
	}
	if hr := res.HeaderReports; hr != nil {
		fmt.Fprintf(w, "200 report with %d rate-limit headers vs none, %d rounds: p50 %.1f vs %.1f µs (%.2f×), p99 %.1f vs %.1f µs (%.2f×)\n",
			hr.Headers, hr.Rounds, hr.With.P50, hr.None.P50, hr.P50X, hr.With.P99, hr.None.P99, hr.P99X)
	}
	if i := res.Idle; i != nil {
		fmt.Fprintf(w, "idle daemon over %s: %d context switches (%.1f/s), %.2f s CPU\n", fmtSec(i.WindowS), i.CtxSwitches, i.PerS, i.CPUS)
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func fmtSec(s float64) string { return fmt.Sprintf("%gs", s) }

func perOpUS(cpuS float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return cpuS / float64(n) * 1e6
}
