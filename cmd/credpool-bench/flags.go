package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

var errUsage = errors.New("bad usage")

// Operation names, in the order they are printed.
const (
	opSelect  = "select"
	opReport  = "report"
	opRelease = "release"
	opReset   = "reset"
)

var mixOps = []string{opSelect, opReport, opRelease}

// config is what the flags ask for. Its JSON form is the "config" member of
// the --json output.
type config struct {
	Socket      string        `json:"socket,omitempty"`
	CredpoolBin string        `json:"credpool_bin,omitempty"`
	Providers   int           `json:"providers"`
	Entries     int           `json:"entries"`
	Clients     int           `json:"clients"`
	Duration    time.Duration `json:"-"`
	Warmup      time.Duration `json:"-"`
	Rate        float64       `json:"rate,omitempty"`
	Mix         mix           `json:"mix"`
	Recovery    int           `json:"recovery,omitempty"`
	OAuth       int           `json:"oauth,omitempty"`
	Baseline    bool          `json:"baseline,omitempty"`
	// HeaderReports is the rounds of the header-report comparison
	// (headers.go), 0 = not run.
	HeaderReports int           `json:"header_reports,omitempty"`
	Idle          time.Duration `json:"-"`
	Tick          time.Duration `json:"-"`
	JSON          bool          `json:"-"`
	// Gateway measures the provider gateway instead of the socket API.
	Gateway        bool `json:"gateway,omitempty"`
	GatewayClients int  `json:"gateway_clients,omitempty"`
	GatewayStreams int  `json:"gateway_streams,omitempty"`
	// DaemonEnv is added to the environment of the daemon the bench
	// starts, and of no other process.
	DaemonEnv envFlag `json:"daemon_env,omitempty"`

	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	IdleS     float64 `json:"idle_s,omitempty"`
	TickS     float64 `json:"tick_s,omitempty"`
	Mode      string  `json:"mode"` // closed | open
}

// envFlag is a repeatable KEY=VALUE flag.
type envFlag []string

func (f *envFlag) String() string { return strings.Join(*f, " ") }

func (f *envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*f = append(*f, v)
	return nil
}

// mix is the weight of each operation; only positive weights are run.
type mix map[string]int

func (m mix) String() string {
	var parts []string
	for _, op := range mixOps {
		if m[op] > 0 {
			parts = append(parts, op+"="+strconv.Itoa(m[op]))
		}
	}
	return strings.Join(parts, ",")
}

func (m mix) total() int {
	n := 0
	for _, w := range m {
		n += w
	}
	return n
}

func parseMix(s string) (mix, error) {
	m := mix{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("mix %q: want op=weight", part)
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(mixOps, name) {
			return nil, fmt.Errorf("mix %q: unknown operation (want select, report or release)", name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("mix %q: weight must be a whole number ≥ 0", part)
		}
		m[name] = n
	}
	if m.total() == 0 {
		return nil, errors.New("mix: no operation has a weight")
	}
	if m[opSelect] == 0 {
		return nil, errors.New("mix: select needs a weight (reports and releases act on selected credentials)")
	}
	return m, nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("credpool-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: credpool-bench [flags]

Starts a credpool daemon on a generated auth.json (or uses --socket), drives it
with --clients for --duration (closed loop) or at --rate ops/s (open loop), and
prints latency percentiles per operation, throughput, the daemon's RSS and CPU
time, and auth.json writes/s.

flags:`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Socket, "socket", "", "use the daemon already listening on this socket instead of starting one")
	fs.StringVar(&cfg.CredpoolBin, "credpool-bin", "", "credpool binary to start (default: go build ./cmd/credpool into a temp dir)")
	fs.IntVar(&cfg.Providers, "providers", 1, "providers in the generated auth.json")
	fs.IntVar(&cfg.Entries, "entries", 10, "api_key entries per provider in the generated auth.json")
	fs.IntVar(&cfg.Clients, "clients", 1, "concurrent clients, each with its own connection")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured time of the load phase (0 skips it)")
	fs.DurationVar(&cfg.Warmup, "warmup", 500*time.Millisecond, "unmeasured load before the measured time")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: total ops/s spread over the clients, latency from the intended start (0 = closed loop)")
	mixStr := fs.String("mix", "select=90,report=5,release=5", "operation weights: select, report (429/402/401 token_invalidated in turn), release")
	fs.IntVar(&cfg.Recovery, "recovery", 0, "measure re-auth recovery this many times (time from another process's rename of auth.json to the DEAD entry being selected)")
	fs.IntVar(&cfg.HeaderReports, "header-reports", 0, "compare this many 200 reports carrying 20 rate-limit headers with as many carrying none (one client, interleaved)")
	fs.IntVar(&cfg.OAuth, "oauth", 0, "measure OAuth (issue 10) instead: this many stampede generations of --clients agents, --recovery re-logins per tool (default 50), selects during a refresh for --duration")
	fs.BoolVar(&cfg.Baseline, "baseline", false, "also run the same selects as per-process file locking and a bare Unix-socket echo, and print ratios")
	fs.DurationVar(&cfg.Idle, "idle", 0, "before the load, count the idle daemon's wake-ups (context switches) over this long")
	fs.DurationVar(&cfg.Tick, "tick", 60*time.Second, "--tick of the daemon the bench starts")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of tables")
	fs.BoolVar(&cfg.Gateway, "gateway", false, "measure the provider gateway instead: the same requests to a fake provider direct and through the daemon's gateway, each for --duration (--entries keys)")
	fs.IntVar(&cfg.GatewayClients, "gateway-clients", 64, "with --gateway: clients of the throughput run")
	fs.IntVar(&cfg.GatewayStreams, "gateway-streams", 200, "with --gateway: concurrent streams")
	fs.Var(&cfg.DaemonEnv, "daemon-env", "`KEY=VALUE` for the environment of the daemon the bench starts, and no other process (repeatable; e.g. GOMEMLIMIT=22MiB)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "credpool-bench: unexpected argument %q\n", fs.Arg(0))
		return cfg, errUsage
	}
	m, err := parseMix(*mixStr)
	if err != nil {
		fmt.Fprintln(stderr, "credpool-bench:", err)
		return cfg, errUsage
	}
	cfg.Mix = m
	switch {
	case cfg.Clients < 1, cfg.Providers < 1, cfg.Entries < 1, cfg.GatewayClients < 1, cfg.GatewayStreams < 1:
		fmt.Fprintln(stderr, "credpool-bench: --clients, --providers, --entries, --gateway-clients and --gateway-streams must be ≥ 1")
		return cfg, errUsage
	case cfg.Gateway && (cfg.Socket != "" || cfg.Baseline || cfg.Recovery > 0 || cfg.Rate > 0 || cfg.Duration == 0 || cfg.HeaderReports > 0 || cfg.Idle > 0):
		fmt.Fprintln(stderr, "credpool-bench: --gateway starts its own daemon and runs closed loops for --duration (> 0): no --socket, --baseline, --recovery, --rate, --header-reports or --idle")
		return cfg, errUsage
	case cfg.Duration < 0, cfg.Warmup < 0, cfg.Rate < 0, cfg.Recovery < 0, cfg.Idle < 0, cfg.HeaderReports < 0, cfg.OAuth < 0:
		fmt.Fprintln(stderr, "credpool-bench: durations, --rate, --recovery and --header-reports must not be negative")
		return cfg, errUsage
	}
	cfg.DurationS, cfg.WarmupS, cfg.IdleS = cfg.Duration.Seconds(), cfg.Warmup.Seconds(), cfg.Idle.Seconds()
	cfg.Mode = "closed"
	if cfg.Rate > 0 {
		cfg.Mode = "open"
	}
	if cfg.Socket == "" {
		cfg.TickS = cfg.Tick.Seconds()
	}
	return cfg, nil
}
