package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credpool/credpool/internal/stats"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// result is everything one run measured; its JSON form is the --json output.
type result struct {
	Ops      map[string]opStats `json:"ops"`
	Errors   map[string]int     `json:"errors,omitempty"`
	Resets   int64              `json:"resets,omitempty"`
	Daemon   daemonResult       `json:"daemon"`
	Writes   *writesResult      `json:"writes,omitempty"`
	Baseline *baselineResult    `json:"baseline,omitempty"`
	Recovery *recoveryResult    `json:"recovery,omitempty"`
	// HeaderReports compares reports with and without rate-limit headers.
	HeaderReports *headerReportsResult `json:"header_reports,omitempty"`
	Idle          *idleResult          `json:"idle,omitempty"`
	Gateway       *gatewayResult       `json:"gateway,omitempty"`
	Config        config               `json:"config"`
	Machine       machine              `json:"machine"`
}

type daemonResult struct {
	PID      int     `json:"pid,omitempty"`
	RSSBytes int64   `json:"rss_bytes"`
	HWMBytes int64   `json:"hwm_bytes"`
	CPUS     float64 `json:"cpu_s"`      // since the daemon started
	LoadCPUS float64 `json:"load_cpu_s"` // during the measured load window
	Threads  int     `json:"threads,omitempty"`
	Entries  int     `json:"entries,omitempty"`
	Note     string  `json:"note,omitempty"`
}

type baselineResult struct {
	File       opStats        `json:"file"`
	FileErrors map[string]int `json:"file_errors,omitempty"`
	Echo       opStats        `json:"echo"`
	// EchoCPUS is the echo server's CPU time over its measured window, to
	// set against the daemon's load_cpu_s.
	EchoCPUS float64 `json:"echo_cpu_s"`
	// Ratios of p50 and p99: select/echo (how far above the floor the
	// daemon is) and file/select (how much faster than the file model).
	SelectVsEchoP50 float64 `json:"select_vs_echo_p50"`
	SelectVsEchoP99 float64 `json:"select_vs_echo_p99"`
	FileVsSelectP50 float64 `json:"file_vs_select_p50"`
	FileVsSelectP99 float64 `json:"file_vs_select_p99"`
}

type idleResult struct {
	WindowS     float64 `json:"window_s"`
	CtxSwitches int64   `json:"ctx_switches"`
	PerS        float64 `json:"wakeups_per_s"`
	CPUS        float64 `json:"cpu_s"`
}

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Date      string `json:"date"`
}

func thisMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC().Format(time.RFC3339)}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// target is the daemon under test.
type target struct {
	socket    string
	authFile  string
	pid       int
	providers []string
	entries   int // per provider (the smallest pool when connected to one)
	own       *daemonProc
}

func bench(ctx context.Context, cfg config, stderr io.Writer) (*result, error) {
	if cfg.Gateway {
		return benchGateway(ctx, cfg, stderr)
	}
	res := &result{Ops: map[string]opStats{}, Config: cfg, Machine: thisMachine()}
	dir, err := os.MkdirTemp("", "cpb")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var genData []byte
	if cfg.Socket == "" || cfg.Baseline {
		if genData, err = genAuth(cfg.Providers, cfg.Entries); err != nil {
			return nil, err
		}
	}
	tg, err := openTarget(ctx, cfg, dir, genData)
	if err != nil {
		return nil, err
	}
	if tg.own != nil {
		defer func() {
			if err := tg.own.stop(); err != nil {
				fmt.Fprintln(stderr, "credpool-bench: stopping the daemon:", err)
			}
		}()
	}
	res.Daemon.PID = tg.pid
	res.Daemon.Entries = tg.entries * len(tg.providers)

	if cfg.Idle > 0 && tg.pid > 0 {
		idle, err := measureIdle(ctx, tg.pid, cfg.Idle)
		if err != nil {
			return nil, err
		}
		res.Idle = idle
	}

	var load *loadResult
	if cfg.Duration > 0 {
		load, res.Writes, res.Daemon.LoadCPUS, err = runLoad(ctx, cfg, tg)
		if err != nil {
			return nil, err
		}
		res.Ops, res.Resets = load.stats(), load.resets
		if len(load.errors) > 0 {
			res.Errors = load.errors
		}
		if load.firstErr != nil {
			fmt.Fprintln(stderr, "credpool-bench: first error under load:", load.firstErr)
		}
	}

	if cfg.Baseline && cfg.Duration > 0 {
		b, err := runBaseline(ctx, cfg, dir, genData)
		if err != nil {
			return nil, err
		}
		sel := res.Ops[opSelect]
		b.SelectVsEchoP50, b.SelectVsEchoP99 = ratio(sel.P50, b.Echo.P50), ratio(sel.P99, b.Echo.P99)
		b.FileVsSelectP50, b.FileVsSelectP99 = ratio(b.File.P50, sel.P50), ratio(b.File.P99, sel.P99)
		res.Baseline = b
	}

	if cfg.Recovery > 0 {
		c := socketapi.NewClient(tg.socket)
		rec, err := measureRecovery(ctx, c, tg.authFile, tg.providers[0], cfg.Recovery)
		c.Close()
		if err != nil {
			return nil, err
		}
		res.Recovery = &rec
	}

	if cfg.HeaderReports > 0 {
		hr, err := measureHeaderReports(ctx, tg.socket, tg.providers[0], cfg.HeaderReports, cfg.Warmup)
		if err != nil {
			return nil, err
		}
		res.HeaderReports = hr
	}

	if tg.pid > 0 {
		if ps, err := readProc(tg.pid); err == nil {
			res.Daemon.RSSBytes, res.Daemon.HWMBytes, res.Daemon.CPUS, res.Daemon.Threads = ps.RSS, ps.HWM, ps.CPU, ps.Threads
		} else {
			res.Daemon.Note = err.Error()
		}
	} else {
		res.Daemon.Note = "daemon pid unknown: no RSS or CPU figures"
	}
	return res, nil
}

// openTarget starts a daemon on the generated file, or connects to
// cfg.Socket.
func openTarget(ctx context.Context, cfg config, dir string, genData []byte) (*target, error) {
	if cfg.Socket != "" {
		return connectTarget(ctx, cfg)
	}
	authFile, err := writeAuthFile(dir, "auth", genData)
	if err != nil {
		return nil, err
	}
	tg := &target{socket: filepath.Join(dir, "credpool.sock"), authFile: authFile, entries: cfg.Entries}
	for i := range cfg.Providers {
		tg.providers = append(tg.providers, providerName(i))
	}
	bin, err := credpoolBinary(ctx, cfg.CredpoolBin, dir)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(ctx, bin, dir, tg.authFile, tg.socket, cfg.Tick, daemonExtra{env: cfg.DaemonEnv})
	if err != nil {
		return nil, err
	}
	tg.own, tg.pid = d, d.pid()
	return tg, nil
}

// connectTarget uses a running daemon. Reports, resets and the recovery run
// change statuses, so they are only done on pools the bench generated
// (named bench-*), never on a user's real credentials.
func connectTarget(ctx context.Context, cfg config) (*target, error) {
	c := socketapi.NewClient(cfg.Socket)
	defer c.Close()
	h, err := c.Health(ctx)
	if err != nil {
		return nil, err
	}
	pools, err := c.Pools(ctx)
	if err != nil {
		return nil, err
	}
	tg := &target{socket: cfg.Socket, authFile: h.AuthFile}
	for _, p := range pools {
		if len(p.Entries) == 0 {
			continue
		}
		tg.providers = append(tg.providers, p.Provider)
		if tg.entries == 0 || len(p.Entries) < tg.entries {
			tg.entries = len(p.Entries)
		}
	}
	if len(tg.providers) == 0 {
		return nil, errors.New("the daemon has no entries to select")
	}
	if cfg.Mix[opReport] > 0 || cfg.Recovery > 0 || cfg.HeaderReports > 0 {
		for _, p := range tg.providers {
			if !strings.HasPrefix(p, "bench-") {
				return nil, fmt.Errorf("refusing to report on pool %q of a running daemon (reports mark real credentials); use --mix select=N,release=N and no --recovery, or a daemon on a bench-* file", p)
			}
		}
	}
	if pid, err := peerPID(cfg.Socket); err == nil {
		tg.pid = pid
	}
	return tg, nil
}

func measureIdle(ctx context.Context, pid int, window time.Duration) (*idleResult, error) {
	// Let start-up work (first flush, GC) finish before counting.
	sleepCtx(ctx, time.Second)
	before, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	sleepCtx(ctx, window)
	after, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	n := after.CtxSwitches - before.CtxSwitches
	return &idleResult{WindowS: window.Seconds(), CtxSwitches: n, PerS: stats.Round1(float64(n) / window.Seconds()),
		CPUS: stats.Round1((after.CPU-before.CPU)*100) / 100}, ctx.Err()
}

// runLoad drives the daemon and measures writes and daemon CPU over the
// measured window.
func runLoad(ctx context.Context, cfg config, tg *target) (*loadResult, *writesResult, float64, error) {
	var wc *writeCounter
	if tg.authFile != "" {
		if c, err := watchWrites(tg.authFile); err == nil {
			wc = c
			defer wc.close()
		}
	}
	resets := &atomic.Int64{}
	rs := make(map[string]*resetState, len(tg.providers))
	for _, p := range tg.providers {
		rs[p] = &resetState{threshold: int64(max(1, tg.entries/2)), resets: resets}
	}
	workers := make([]worker, cfg.Clients)
	for i := range workers {
		p := tg.providers[i%len(tg.providers)]
		workers[i] = newDaemonWorker(socketapi.NewClient(tg.socket), p, cfg.Mix, uint64(i)+1, rs[p])
	}

	var mu sync.Mutex
	var w0 int64
	var cpu0 float64
	at := time.AfterFunc(cfg.Warmup, func() {
		mu.Lock()
		defer mu.Unlock()
		if wc != nil {
			w0 = wc.count()
		}
		if tg.pid > 0 {
			if ps, err := readProc(tg.pid); err == nil {
				cpu0 = ps.CPU
			}
		}
	})
	defer at.Stop()
	load := drive(ctx, workers, cfg.Rate, cfg.Warmup, cfg.Duration)
	load.resets = resets.Load()
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	var loadCPU float64
	if tg.pid > 0 {
		if ps, err := readProc(tg.pid); err == nil {
			loadCPU = stats.Round1((ps.CPU-cpu0)*100) / 100
		}
	}
	var wr *writesResult
	if wc != nil {
		n := wc.count() - w0
		wr = &writesResult{Count: n, WindowS: cfg.Duration.Seconds(), PerS: stats.Round1(float64(n) / cfg.Duration.Seconds())}
		if cfg.Mix[opReport] > 0 {
			wr.Note = "reports and resets are persisted at once; the 2/s aim is for a pure select load"
		}
	}
	return load, wr, loadCPU, nil
}

// runBaseline runs the same select load against the per-process file model
// (on its own copy of the generated file, with no daemon watching it) and a
// bare echo server.
func runBaseline(ctx context.Context, cfg config, dir string, genData []byte) (*baselineResult, error) {
	b := &baselineResult{}
	path, err := writeAuthFile(dir, "file", genData)
	if err != nil {
		return nil, err
	}
	providers := make([]string, cfg.Providers)
	for i := range providers {
		providers[i] = providerName(i)
	}
	workers := make([]worker, cfg.Clients)
	for i := range workers {
		workers[i] = newFileWorker(path, providers[i%len(providers)])
	}
	fl := drive(ctx, workers, cfg.Rate, cfg.Warmup, cfg.Duration)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	b.File = summarize(fl.samples[opSelect], fl.window)
	if len(fl.errors) > 0 {
		b.FileErrors = fl.errors
	}
	if fl.firstErr != nil && b.File.Count == 0 {
		return nil, fmt.Errorf("file model: %w", fl.firstErr)
	}

	sock := filepath.Join(dir, "echo.sock")
	ep, err := startEcho(sock)
	if err != nil {
		return nil, err
	}
	defer ep.stop()
	for i := range workers {
		workers[i] = newEchoWorker(sock)
	}
	var cpu0 float64
	at := time.AfterFunc(cfg.Warmup, func() {
		if ps, err := readProc(ep.cmd.Process.Pid); err == nil {
			cpu0 = ps.CPU
		}
	})
	el := drive(ctx, workers, cfg.Rate, cfg.Warmup, cfg.Duration)
	if !at.Stop() {
		if ps, err := readProc(ep.cmd.Process.Pid); err == nil {
			b.EchoCPUS = stats.Round1((ps.CPU-cpu0)*100) / 100
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if el.firstErr != nil && len(el.samples["echo"]) == 0 {
		return nil, fmt.Errorf("echo: %w", el.firstErr)
	}
	b.Echo = summarize(el.samples["echo"], el.window)
	return b, nil
}
