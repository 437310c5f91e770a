package cli

import (
	"context"
	"runtime/debug"
	"slices"
	"time"

	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/daemon"
	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/packaging"
	"github.com/credpool/credpool/pool"
)

func runDaemon(ctx context.Context, e Env, args []string) error {
	fs, l := daemonFlags(e)
	printConfig := fs.Bool("print-config", false, "print the settings in effect and where each came from, then exit")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("daemon takes no arguments, got %q", pos[0])
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	if *printConfig {
		return s.Print(e.Stdout)
	}
	logger, err := s.Logger(e.Stderr)
	if err != nil {
		return usageError{err.Error()}
	}
	limitMemory(e.Getenv, s.Gateway != "")
	gw, err := gatewayConfig(e, s)
	if err != nil {
		return err
	}
	cfg := daemon.Config{
		AuthFile:          s.AuthFile,
		Socket:            s.Socket,
		Version:           Version,
		Tick:              s.Tick,
		Pool:              poolConfig(s),
		MaxFileSize:       s.MaxFileSize,
		Logger:            logger,
		RefreshHorizon:    s.RefreshHorizon,
		TokenURLs:         s.TokenURLs,
		Logins:            followedLogins(e.Getenv, s.ExternalLogins),
		RefreshExternal:   s.RefreshExternal,
		ClaudeCredentials: claudeCredentials(e.Getenv),
		Gateway:           gw,
	}
	// packaging.Run is the service process: it sends READY=1 to systemd once
	// the socket answers and STOPPING=1 on the way out.
	return packaging.Run(ctx, func(ctx context.Context) error { return daemon.Run(ctx, cfg) },
		packaging.Options{Probe: func(ctx context.Context) error {
			_, err := quickClient(s).Health(ctx)
			return err
		}})
}

// followedLogins is the external_logins setting applied to extlogin's table
// of sources, with their paths from the daemon's environment.
func followedLogins(getenv func(string) string, names []string) []extlogin.Source {
	var out []extlogin.Source
	for _, src := range extlogin.Sources(getenv) {
		if slices.Contains(names, src.Name) {
			out = append(out, src)
		}
	}
	return out
}

// claudeCredentials is Claude Code's credentials file, from extlogin's
// table with the daemon's environment.
func claudeCredentials(getenv func(string) string) string {
	for _, src := range extlogin.Sources(getenv) {
		if src.Name == extlogin.SourceClaude {
			return src.Path
		}
	}
	return ""
}

// defaultMemoryLimit keeps a per-user daemon small even with a very large
// pool: with 10,000 entries under load the heap would otherwise grow to
// ~40 MB of headroom around ~12 MB live (29.8 MB RSS with the limit, 42 MB
// without). The cost is extra GC work only near the limit: about 8 % of
// select throughput for that pool at 12k selects/s; small pools never reach
// it. GOMEMLIMIT overrides it.
const defaultMemoryLimit = 22 << 20

// gatewayMemoryLimit is the soft limit with the gateway on. Its streams hold
// buffers while they run (about 150 KB each: two connections, a copy buffer,
// their goroutines): under 22 MiB, 200 of them kept the collector running
// without pause and cost 500-700 µs of CPU a stream instead of 85
// (docs/BENCHMARKS.md); from 48 MiB on it makes no difference.
const gatewayMemoryLimit = 64 << 20

func limitMemory(getenv func(string) string, gateway bool) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	if gateway {
		debug.SetMemoryLimit(gatewayMemoryLimit)
		return
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
}

// poolConfig is the pool's share of the settings; the admin commands use it
// too, so that an offline add numbers and prunes exactly as the daemon does.
func poolConfig(s config.Settings) pool.Config {
	return pool.Config{
		Strategies:     s.PoolStrategies(),
		MaxLeases:      s.MaxLeases,
		LeaseTTL:       s.LeaseTTL,
		PruneDeadAfter: s.PruneDeadAfter,
		QuotaThreshold: s.QuotaThreshold,
		LongWait:       s.LongWait,
		Now:            time.Now,
	}
}
