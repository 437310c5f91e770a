package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// writeGatewayText prints a --gateway run: each workload direct, through a
// bare proxy and through the gateway, and what the gateway added.
func writeGatewayText(w io.Writer, res *result) {
	g, c := res.Gateway, res.Config
	fmt.Fprintf(w, "credpool-bench --gateway: fake provider on loopback; direct, through a bare reverse proxy and through the daemon's gateway; %s measured after %s warm-up each; %d keys\n",
		fmtSec(c.DurationS), fmtSec(c.WarmupS), c.Entries)
	fmt.Fprintf(w, "machine: %s, %d cores, %s, %s\n\n", res.Machine.CPU, res.Machine.Cores, res.Machine.GoVersion, res.Machine.Date)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tclients\tpath\tcount\tops/s\tp50 µs\tp90 µs\tp99 µs\tmax µs\tserver CPU/op µs\t")
	for _, row := range []struct {
		name string
		w    workload
	}{{"small request", g.Small}, {"stream TTFB", g.TTFB}, {"small request", g.Throughput}, {"whole stream", g.Streams}} {
		for _, side := range []struct {
			name string
			s    opStats
			cpu  string
		}{{"direct", row.w.Direct, ""}, {"bare proxy", row.w.Proxy, fmt.Sprintf("%.0f", row.w.ProxyCPUPerOpUS)},
			{"gateway", row.w.Gateway, fmt.Sprintf("%.0f", row.w.CPUPerOpUS)}} {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", row.name, row.w.Clients, side.name,
				side.s.Count, side.s.OpsPerS, side.s.P50, side.s.P90, side.s.P99, side.s.Max, side.cpu)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	extra := func(what string, x workload) {
		fmt.Fprintf(w, "%s: gateway − direct p50 %+.1f µs, p99 %+.1f µs; gateway − bare proxy p50 %+.1f µs, p99 %+.1f µs\n",
			what, x.ExtraP50US, x.ExtraP99US, x.OverProxyP50US, x.OverProxyP99US)
	}
	extra("small request, 1 client", g.Small)
	extra("time to first byte of a stream, 1 client", g.TTFB)
	fmt.Fprintf(w, "%d clients: gateway %.0f/s, bare proxy %.0f/s, direct %.0f/s (gateway/direct %.2f×); daemon CPU %.2f s in the window\n",
		g.Throughput.Clients, g.Throughput.Gateway.OpsPerS, g.Throughput.Proxy.OpsPerS, g.Throughput.Direct.OpsPerS,
		g.Throughput.RateRatio, g.Throughput.DaemonCPUS)
	fmt.Fprintf(w, "%d clients streaming: gateway %.0f streams/s, bare proxy %.0f/s, direct %.0f/s; daemon CPU %.2f s (%.0f µs a stream), RSS %.1f MB (peak so far %.1f MB)\n",
		g.Streams.Clients, g.Streams.Gateway.OpsPerS, g.Streams.Proxy.OpsPerS, g.Streams.Direct.OpsPerS, g.Streams.DaemonCPUS,
		g.Streams.CPUPerOpUS, mb(g.Streams.DaemonRSS), mb(g.Streams.DaemonHWM))
	fmt.Fprintf(w, "%d streams held open: daemon RSS %.1f MB (%.1f MB before), CPU %.2f s in %s\n",
		g.Held.Streams, mb(g.Held.RSSBytes), mb(g.Held.RSSBeforeBytes), g.Held.CPUS, fmtSec(g.Held.WindowS))
	var errs []string
	for _, x := range []workload{g.Small, g.TTFB, g.Throughput, g.Streams} {
		for k, n := range x.Errors {
			errs = append(errs, fmt.Sprintf("%d clients %s=%d", x.Clients, k, n))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		fmt.Fprintf(w, "not counted above: %s\n", strings.Join(errs, ", "))
	}
	d := res.Daemon
	fmt.Fprintf(w, "daemon: pid %d, idle RSS %.1f MB, at the end RSS %.1f MB (peak %.1f MB), CPU %.2f s total, %d threads\n",
		d.PID, mb(g.IdleRSSBytes), mb(d.RSSBytes), mb(d.HWMBytes), d.CPUS, d.Threads)
}
