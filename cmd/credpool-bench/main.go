// Command credpool-bench measures a credpool daemon under load: latency
// percentiles and throughput per operation over the real Unix socket, the
// daemon's RSS and CPU time, how often it writes auth.json, how fast a
// re-authentication by another process becomes selectable (--recovery), and
// the same selection workload done the way agents do without a daemon
// (--baseline: lock, parse and rewrite auth.json per selection, plus a bare
// Unix-socket echo as the physical floor). docs/BENCHMARKS.md has the figures
// and the commands that produced them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if sock := os.Getenv(echoEnv); sock != "" {
		if err := serveEcho(sock); err != nil {
			fmt.Fprintln(os.Stderr, "credpool-bench echo:", err)
			os.Exit(1)
		}
		return
	}
	if target := os.Getenv(proxyEnv); target != "" {
		if err := serveProxy(target); err != nil {
			fmt.Fprintln(os.Stderr, "credpool-bench proxy:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "credpool-bench:", err)
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if err == errUsage {
		return 2
	}
	return 1
}

// run parses args, runs every phase they ask for and prints the result.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.OAuth > 0 {
		return runOAuth(ctx, cfg, stdout, stderr)
	}
	res, err := bench(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return writeJSON(stdout, res)
	}
	writeText(stdout, res)
	return nil
}
