package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credpool/credpool/authfile"
	gt "github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/stats"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// The --gateway mode measures the local provider gateway: the same
// requests to gatewaytest's fake provider on loopback, once direct (what an
// agent with its own key does) and once through the real daemon's
// gateway, in one run.

// gatewayResult is the "gateway" member of --json.
type gatewayResult struct {
	// Small is a small non-streaming chat completion, one client.
	Small workload `json:"small"`
	// TTFB is the time to the first byte of a stream's body, one client.
	TTFB workload `json:"ttfb"`
	// Throughput is the small request with --gateway-clients clients.
	Throughput workload `json:"throughput"`
	// Streams is --gateway-streams clients each streaming back to back.
	Streams workload `json:"streams"`
	// Held is --gateway-streams streams held open at once.
	Held heldResult `json:"held"`
	// IdleRSSBytes is the daemon's RSS before the first request.
	IdleRSSBytes int64 `json:"idle_rss_bytes"`
}

// workload is one workload three ways: direct to the fake provider,
// through a bare reverse proxy process (the floor of a hop), and through
// the daemon's gateway.
type workload struct {
	Clients int     `json:"clients"`
	Direct  opStats `json:"direct"`
	Proxy   opStats `json:"proxy"`
	Gateway opStats `json:"gateway"`
	// Extra is gateway minus direct; OverProxy gateway minus the bare
	// proxy (what the gateway's own work costs beyond the hop).
	ExtraP50US     float64 `json:"extra_p50_us"`
	ExtraP99US     float64 `json:"extra_p99_us"`
	OverProxyP50US float64 `json:"over_proxy_p50_us"`
	OverProxyP99US float64 `json:"over_proxy_p99_us"`
	// RateRatio is the gateway's ops/s over the direct ones.
	RateRatio float64 `json:"rate_ratio"`
	// CPU of the daemon and of the bare proxy over their measured windows,
	// and the daemon's RSS at the end of its run and at its peak so far.
	DaemonCPUS      float64        `json:"daemon_cpu_s"`
	CPUPerOpUS      float64        `json:"daemon_cpu_per_op_us"`
	ProxyCPUPerOpUS float64        `json:"proxy_cpu_per_op_us"`
	DaemonRSS       int64          `json:"daemon_rss_bytes"`
	DaemonHWM       int64          `json:"daemon_hwm_bytes"`
	Errors          map[string]int `json:"errors,omitempty"`
}

// heldResult is the daemon with many streams open at once.
type heldResult struct {
	Streams        int     `json:"streams"`
	RSSBeforeBytes int64   `json:"rss_before_bytes"`
	RSSBytes       int64   `json:"rss_bytes"`
	WindowS        float64 `json:"window_s"`
	CPUS           float64 `json:"cpu_s"` // over the window, streams open and quiet
}

// Pools of the generated auth.json: every key of gwPool answers 200, the
// one key of gwHangPool streams one event and waits for the client to go.
const (
	gwPool     = "bench-gw"
	gwHangPool = "bench-hang"
)

func gwKey(i int) string { return fmt.Sprintf("sk-bench-gw-%04d", i) }

const gwHangKey = "sk-bench-hang"

const (
	smallBody  = `{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}`
	streamBody = `{"model":"gpt-bench","stream":true,"messages":[{"role":"user","content":"Say hello."}]}`
)

// gwTarget is the daemon and the fake upstream under test.
type gwTarget struct {
	up      *gt.Upstream
	daemon  *daemonProc
	gateway string // http://127.0.0.1:PORT
	token   string
}

func benchGateway(ctx context.Context, cfg config, stderr io.Writer) (*result, error) {
	res := &result{Ops: map[string]opStats{}, Config: cfg, Machine: thisMachine()}
	dir, err := os.MkdirTemp("", "cpb")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tg, err := openGatewayTarget(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer tg.up.Close()
	defer func() {
		if err := tg.daemon.stop(); err != nil {
			fmt.Fprintln(stderr, "credpool-bench: stopping the daemon:", err)
		}
	}()
	pid := tg.daemon.pid()
	res.Daemon.PID, res.Daemon.Entries = pid, cfg.Entries+1
	g := &gatewayResult{}
	res.Gateway = g
	if ps, err := readProc(pid); err == nil {
		g.IdleRSSBytes = ps.RSS
	}

	proxy, proxyURL, err := startProxy(tg.up.URL)
	if err != nil {
		return nil, err
	}
	defer proxy.stop()
	paths := []struct {
		name, url, auth string
		pid             int
	}{
		{"direct", tg.up.URL + "/v1/chat/completions", "Bearer " + gwKey(0), 0},
		{"proxy", proxyURL + "/v1/chat/completions", "Bearer " + gwKey(0), proxy.cmd.Process.Pid},
		{"gateway", tg.gateway + "/" + gwPool + "/chat/completions", "Bearer " + tg.token, pid},
	}
	phases := []struct {
		name    string
		out     *workload
		clients int
		body    string
		ttfb    bool
	}{
		{"small request, 1 client", &g.Small, 1, smallBody, false},
		{"stream, time to first byte, 1 client", &g.TTFB, 1, streamBody, true},
		{fmt.Sprintf("small request, %d clients", cfg.GatewayClients), &g.Throughput, cfg.GatewayClients, smallBody, false},
		{fmt.Sprintf("whole streams, %d clients", cfg.GatewayStreams), &g.Streams, cfg.GatewayStreams, streamBody, false},
	}
	for _, ph := range phases {
		fmt.Fprintf(stderr, "credpool-bench: gateway: %s ...\n", ph.name)
		w := workload{Clients: ph.clients}
		for _, p := range paths {
			l, cpu := driveMeasured(ctx, p.pid, httpWorkers(ph.clients, p.name, p.url, p.auth, ph.body, ph.ttfb), cfg.Warmup, cfg.Duration)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st := summarize(l.samples[p.name], l.window)
			switch p.name {
			case "direct":
				w.Direct = st
			case "proxy":
				w.Proxy, w.ProxyCPUPerOpUS = st, stats.Round1(perOpUS(cpu, st.Count))
			case "gateway":
				w.Gateway, w.DaemonCPUS, w.CPUPerOpUS = st, cpu, stats.Round1(perOpUS(cpu, st.Count))
			}
			for k, n := range l.errors {
				if w.Errors == nil {
					w.Errors = map[string]int{}
				}
				w.Errors[k] += n
			}
			if l.firstErr != nil {
				fmt.Fprintf(stderr, "credpool-bench: gateway: %s, %s: first error: %v\n", ph.name, p.name, l.firstErr)
			}
		}
		w.ExtraP50US, w.ExtraP99US = stats.Round1(w.Gateway.P50-w.Direct.P50), stats.Round1(w.Gateway.P99-w.Direct.P99)
		w.OverProxyP50US, w.OverProxyP99US = stats.Round1(w.Gateway.P50-w.Proxy.P50), stats.Round1(w.Gateway.P99-w.Proxy.P99)
		w.RateRatio = ratio(w.Gateway.OpsPerS, w.Direct.OpsPerS)
		if ps, err := readProc(pid); err == nil {
			w.DaemonRSS, w.DaemonHWM = ps.RSS, ps.HWM
		}
		*ph.out = w
	}
	fmt.Fprintf(stderr, "credpool-bench: gateway: %d streams held open ...\n", cfg.GatewayStreams)
	if g.Held, err = holdStreams(ctx, tg, pid, cfg.GatewayStreams); err != nil {
		return nil, err
	}
	if ps, err := readProc(pid); err == nil {
		res.Daemon.RSSBytes, res.Daemon.HWMBytes, res.Daemon.CPUS, res.Daemon.Threads = ps.RSS, ps.HWM, ps.CPU, ps.Threads
	} else {
		res.Daemon.Note = err.Error()
	}
	return res, nil
}

// openGatewayTarget starts the fake upstream and a daemon with its gateway
// on a free loopback port, logging at info (one line per request, as by
// default), on an auth.json whose entries' base_url is the fake.
func openGatewayTarget(ctx context.Context, cfg config, dir string) (*gwTarget, error) {
	keys := map[string]gt.Behaviour{gwHangKey: gt.Hang}
	for i := range cfg.Entries {
		keys[gwKey(i)] = gt.OK
	}
	up := gt.StartUpstream(keys)
	up.StopRecording()
	// Hung streams report their client's leaving here; nobody waits for it.
	go func() {
		for range up.Cancelled() {
		}
	}()
	tg := &gwTarget{up: up}
	ok := false
	defer func() {
		if !ok {
			up.Close()
		}
	}()
	f := authfile.New()
	base := up.URL + "/v1"
	for i := range cfg.Entries {
		f.Pools[gwPool] = append(f.Pools[gwPool], pool.Entry{ID: fmt.Sprintf("gw%04d", i), Label: fmt.Sprintf("key-%d", i),
			AuthType: "api_key", Priority: i, Source: "manual", AccessToken: gwKey(i), BaseURL: base})
	}
	f.Pools[gwHangPool] = []pool.Entry{{ID: "hang", Label: "hang", AuthType: "api_key", Source: "manual", AccessToken: gwHangKey, BaseURL: base}}
	data, err := f.Marshal()
	if err != nil {
		return nil, err
	}
	authFile, err := writeAuthFile(dir, "auth", data)
	if err != nil {
		return nil, err
	}
	bin, err := credpoolBinary(ctx, cfg.CredpoolBin, dir)
	if err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "credpool.sock")
	if tg.daemon, err = startDaemon(ctx, bin, dir, authFile, socket, cfg.Tick,
		daemonExtra{args: []string{"--gateway", "127.0.0.1:0", "--log-level", "info"}, env: cfg.DaemonEnv}); err != nil {
		return nil, err
	}
	c := socketapi.NewClient(socket)
	defer c.Close()
	h, err := c.Health(ctx)
	if err == nil && h.Gateway == nil {
		err = errors.New("the daemon serves no gateway")
	}
	if err != nil {
		_ = tg.daemon.stop()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	tg.gateway = "http://" + *h.Gateway
	// The daemon made the token where paths says, in its environment.
	tokFile, found := paths.GatewayToken(tg.daemon.getenv)
	if !found {
		_ = tg.daemon.stop()
		return nil, errors.New("gateway token: the daemon's environment names no config directory")
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		_ = tg.daemon.stop()
		return nil, fmt.Errorf("gateway token: %w", err)
	}
	tg.token = strings.TrimSpace(string(tok))
	ok = true
	return tg, nil
}

// driveMeasured is drive with the CPU time of process pid (0: none) over
// the measured window.
func driveMeasured(ctx context.Context, pid int, workers []worker, warmup, duration time.Duration) (*loadResult, float64) {
	if pid == 0 {
		return drive(ctx, workers, 0, warmup, duration), 0
	}
	cpu0 := make(chan float64, 1)
	at := time.AfterFunc(warmup, func() {
		ps, _ := readProc(pid)
		cpu0 <- ps.CPU
	})
	defer at.Stop()
	l := drive(ctx, workers, 0, warmup, duration)
	ps, err := readProc(pid)
	if err != nil {
		return l, 0
	}
	return l, stats.Round1((ps.CPU-<-cpu0)*100) / 100
}
