package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/gateway"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
)

// Setting keys: the config-file keys, and the keys of Settings.Sources.
const (
	KeyAuthFile        = "auth_file"
	KeySocket          = "socket"
	KeyTick            = "tick"
	KeyPruneDeadAfter  = "prune_dead_after"
	KeyLeaseTTL        = "lease_ttl"
	KeyMaxLeases       = "max_leases"
	KeyStrategies      = "strategies"
	KeyLogLevel        = "log_level"
	KeyLogFormat       = "log_format"
	KeyMaxFileSize     = "max_file_size"
	KeyQuotaThreshold  = "quota_threshold"
	KeyLongWait        = "long_wait"
	KeyRefreshHorizon  = "refresh_horizon"
	KeyTokenURLs       = "token_urls"
	KeyExternalLogins  = "external_logins"
	KeyRefreshExternal = "refresh_external"
	KeyGateway         = "gateway"
	KeyUpstreams       = "upstreams"
)

// Limits of the settings.
const (
	MinTick        = 100 * time.Millisecond
	MinMaxFileSize = 4 << 10
)

// ExternalSources are the other tools whose logins credpool can follow, by
// the source name their entries carry.
var ExternalSources = extlogin.Names()

// setting is one row of the settings table: its names in each layer, its
// default (parsed like any other value) and how its raw string becomes a
// value in Settings. A table setting takes K=V pairs instead: a repeatable
// flag, a comma-separated variable, a [key] table in the file.
type setting struct {
	key, flag, env, usage string
	def                   string // "" = the zero value (or a computed default)
	defText               string // how help says a computed default ("" = def)
	isPath                bool
	urls                  bool // values are URLs: an error quotes them without user info or query
	client                bool // client commands take this flag too
	parse                 func(raw string, s *Settings) (reason string)
	show                  func(s Settings) string // the value as Print shows it

	table    bool
	pairForm string                         // "provider=strategy"
	check    func(k, v string) string       // a table pair's reason to refuse, or ""
	put      func(s *Settings, k, v string) // stores a pair ("" makes the map)
	get      func(s Settings) map[string]string
	other    string // Print's line for keys the table does not name
}

// settings is every setting, in the order help and Print show them.
var settings = []setting{
	{key: KeyAuthFile, flag: "auth-file", env: paths.AuthFileEnv, isPath: true, client: true,
		usage:   "`path` of the auth.json to serve",
		defText: "$HERMES_HOME/auth.json, else $XDG_CONFIG_HOME/credpool/auth.json",
		parse:   func(raw string, s *Settings) string { s.AuthFile = raw; return "" },
		show:    func(s Settings) string { return s.AuthFile }},
	{key: KeySocket, flag: "socket", env: paths.SocketEnv, isPath: true, client: true,
		usage:   "Unix socket `path`",
		defText: "$XDG_RUNTIME_DIR/credpool/credpool.sock, else ~/.cache/credpool/credpool.sock; on macOS $TMPDIR/credpool/credpool.sock",
		parse:   func(raw string, s *Settings) string { s.Socket = raw; return "" },
		show:    func(s Settings) string { return s.Socket }},
	{key: KeyTick, flag: "tick", env: "CREDPOOL_TICK", def: "60s",
		usage: "`duration` between runs of prune, lease expiry, counter flush, file re-stat and the refresher's look (minimum 100ms)",
		parse: durationAtLeast(func(s *Settings) *time.Duration { return &s.Tick }, MinTick),
		show:  func(s Settings) string { return formatDuration(s.Tick) }},
	{key: KeyPruneDeadAfter, flag: "prune-dead-after", env: "CREDPOOL_PRUNE_DEAD_AFTER", def: "24h",
		usage: "remove DEAD manual entries after this `duration` (0 = never)",
		parse: durationAtLeast(func(s *Settings) *time.Duration { return &s.PruneDeadAfter }, 0),
		show: func(s Settings) string {
			if s.PruneDeadAfter == 0 {
				return "0 (never)"
			}
			return formatDuration(s.PruneDeadAfter)
		}},
	{key: KeyLeaseTTL, flag: "lease-ttl", env: "CREDPOOL_LEASE_TTL", def: "10m",
		usage: "a lease ends by itself after this `duration`",
		parse: durationAtLeast(func(s *Settings) *time.Duration { return &s.LeaseTTL }, time.Nanosecond),
		show:  func(s Settings) string { return formatDuration(s.LeaseTTL) }},
	{key: KeyMaxLeases, flag: "max-leases", env: "CREDPOOL_MAX_LEASES", def: "1",
		usage: "`n` leases held at once on one credential",
		parse: func(raw string, s *Settings) string {
			n, err := strconv.Atoi(strings.TrimSpace(raw))
			if err != nil {
				return "not a whole number"
			}
			if n < 1 {
				return "must be at least 1"
			}
			s.MaxLeases = n
			return ""
		},
		show: func(s Settings) string { return strconv.Itoa(s.MaxLeases) }},
	{key: KeyStrategies, flag: "strategy", env: "CREDPOOL_STRATEGY", table: true, pairForm: "provider=strategy",
		usage:   "`provider=name` strategy for a provider: " + strategyNames() + " (repeatable)",
		defText: string(pool.FillFirst),
		check: func(k, v string) string {
			if !pool.ValidStrategy(pool.Strategy(v)) {
				return "unknown strategy " + strconv.Quote(v) + "; want one of " + strategyNames()
			}
			return ""
		},
		put: func(s *Settings, k, v string) {
			if s.Strategies == nil {
				s.Strategies = map[string]string{}
			}
			if k != "" {
				s.Strategies[k] = v
			}
		},
		get:   func(s Settings) map[string]string { return s.Strategies },
		other: string(pool.FillFirst)},
	{key: KeyLogLevel, flag: "log-level", env: "CREDPOOL_LOG_LEVEL", def: "info",
		usage: "`level`: " + orList(logLevelNames),
		parse: oneOf(func(s *Settings) *string { return &s.LogLevel }, logLevelNames...),
		show:  func(s Settings) string { return s.LogLevel }},
	{key: KeyLogFormat, flag: "log-format", env: "CREDPOOL_LOG_FORMAT", def: "text",
		usage: "`format`: " + orList(logFormats),
		parse: oneOf(func(s *Settings) *string { return &s.LogFormat }, logFormats...),
		show:  func(s Settings) string { return s.LogFormat }},
	{key: KeyMaxFileSize, flag: "max-file-size", env: "CREDPOOL_MAX_FILE_SIZE", def: formatSize(authfile.DefaultMaxSize), client: true,
		usage: "read at most this `size` of auth.json (bytes, or with KiB/MiB/GiB); a larger file is refused, not read",
		parse: func(raw string, s *Settings) string {
			n, why := parseSize(raw)
			switch {
			case why != "":
			case n < MinMaxFileSize:
				why = fmt.Sprintf("must be at least %d bytes", MinMaxFileSize)
			case n > authfile.MaxSizeLimit:
				why = fmt.Sprintf("must be at most %d bytes (2GiB - 1), the largest auth.json credpool can parse", authfile.MaxSizeLimit)
			}
			s.MaxFileSize = n
			return why
		},
		show: func(s Settings) string { return formatSize(s.MaxFileSize) }},
	{key: KeyQuotaThreshold, flag: "quota-threshold", env: "CREDPOOL_QUOTA_THRESHOLD", def: "0.98",
		usage: "skip a credential whose provider budget is used to this `fraction` until it resets",
		parse: func(raw string, s *Settings) string {
			f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
			if err != nil || !(f > 0 && f <= 1) {
				return "want a fraction above 0 and at most 1"
			}
			s.QuotaThreshold = f
			return ""
		},
		show: func(s Settings) string { return strconv.FormatFloat(s.QuotaThreshold, 'g', -1, 64) }},
	{key: KeyLongWait, flag: "long-wait", env: "CREDPOOL_LONG_WAIT", def: "60s",
		usage: "a 429 whose Retry-After is longer than this `duration` rotates instead of telling the caller to wait",
		parse: durationAtLeast(func(s *Settings) *time.Duration { return &s.LongWait }, time.Nanosecond),
		show:  func(s Settings) string { return formatDuration(s.LongWait) }},
	{key: KeyRefreshHorizon, flag: "refresh-horizon", env: "CREDPOOL_REFRESH_HORIZON", def: "120s",
		usage: "refresh an OAuth access token this `duration` before it expires (xAI: 3600s, or this when 45 minutes or less are left)",
		parse: durationAtLeast(func(s *Settings) *time.Duration { return &s.RefreshHorizon }, time.Second),
		show:  func(s Settings) string { return formatDuration(s.RefreshHorizon) }},
	{key: KeyTokenURLs, flag: "token-url", env: "CREDPOOL_TOKEN_URL", table: true, urls: true, pairForm: "provider=URL",
		usage:   "`provider=URL` OAuth token endpoint for a provider (repeatable; https, or http on loopback only)",
		defText: "each provider's own",
		check: func(k, v string) string {
			if _, err := oauth.ParseOverrides(k + "=" + v); err != nil {
				return strings.TrimPrefix(err.Error(), "oauth: ")
			}
			return ""
		},
		put: func(s *Settings, k, v string) {
			if s.TokenURLs == nil {
				s.TokenURLs = map[string]string{}
			}
			if k != "" {
				s.TokenURLs[k] = v
			}
		},
		get:   func(s Settings) map[string]string { return s.TokenURLs },
		other: "the provider's own"},
	{key: KeyExternalLogins, flag: "external-logins", env: "CREDPOOL_EXTERNAL_LOGINS", def: "all",
		usage: "`sources` whose logins are followed: all, none, or a comma list of " + strings.Join(ExternalSources, ", ") + "",
		parse: sourceList(func(s *Settings) *[]string { return &s.ExternalLogins }),
		show:  func(s Settings) string { return showSources(s.ExternalLogins) }},
	{key: KeyRefreshExternal, flag: "refresh-external", env: "CREDPOOL_REFRESH_EXTERNAL", def: "none",
		usage: "`sources` whose login files credpool refreshes itself instead of their owner: none, all, or a comma list",
		parse: sourceList(func(s *Settings) *[]string { return &s.RefreshExternal }),
		show:  func(s Settings) string { return showSources(s.RefreshExternal) }},
	{key: KeyGateway, flag: "gateway", env: "CREDPOOL_GATEWAY",
		usage:   "serve the local provider gateway on this loopback `address` (host:port, or off)",
		defText: "off",
		parse: func(raw string, s *Settings) string {
			raw = strings.TrimSpace(raw)
			if raw == "" || raw == "off" {
				s.Gateway = ""
				return ""
			}
			if err := gateway.ValidateAddr(raw); err != nil {
				// Its error quotes the address, which the SettingError
				// quotes already.
				return strings.TrimPrefix(err.Error(), fmt.Sprintf("listen address %q: ", raw))
			}
			s.Gateway = raw
			return ""
		},
		show: func(s Settings) string {
			if s.Gateway == "" {
				return "off"
			}
			return s.Gateway
		}},
	{key: KeyUpstreams, flag: "upstream", env: "CREDPOOL_UPSTREAM", table: true, urls: true, pairForm: "pool=URL",
		usage:   "`pool=URL` the gateway's upstream base for a pool (repeatable)",
		defText: "the built-in table",
		check: func(k, v string) string {
			if err := pool.ValidProvider(k); err != nil {
				return "pool name: " + strings.TrimPrefix(err.Error(), "pool: ")
			}
			if _, err := gateway.ParseBase(v); err != nil {
				return "want an absolute http or https URL: " + err.Error()
			}
			return ""
		},
		put: func(s *Settings, k, v string) {
			if s.Upstreams == nil {
				s.Upstreams = map[string]string{}
			}
			if k != "" {
				s.Upstreams[k] = v
			}
		},
		get:   func(s Settings) map[string]string { return s.Upstreams },
		other: "the built-in table"},
}

// help is the usage with its default, as --help and the flag say it.
func (st setting) help() string {
	if d := st.defaultText(); d != "" {
		return st.usage + " (default " + d + ")"
	}
	return st.usage
}

func (st setting) defaultText() string {
	if st.defText != "" {
		return st.defText
	}
	return st.def
}

// strategyNames lists pool's strategies for help texts and errors.
func strategyNames() string {
	names := make([]string, len(pool.Strategies))
	for i, s := range pool.Strategies {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func durationAtLeast(field func(*Settings) *time.Duration, least time.Duration) func(string, *Settings) string {
	return func(raw string, s *Settings) string {
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return `not a duration (use Go syntax such as "200ms", "10m", "24h")`
		}
		switch {
		case least == 0 && d < 0:
			return "must not be negative (0 = never)"
		case least == time.Nanosecond && d <= 0:
			return "must be greater than 0"
		case least > time.Nanosecond && d < least:
			return "must be at least " + least.String()
		}
		*field(s) = d
		return ""
	}
}

func oneOf(field func(*Settings) *string, allowed ...string) func(string, *Settings) string {
	return func(raw string, s *Settings) string {
		v := strings.ToLower(strings.TrimSpace(raw))
		if !slices.Contains(allowed, v) {
			return "want " + orList(allowed)
		}
		*field(s) = v
		return ""
	}
}

// orList says a list of choices: "debug, info, warn or error".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// sourceList reads "all", "none" or a comma list of external sources.
func sourceList(field func(*Settings) *[]string) func(string, *Settings) string {
	return func(raw string, s *Settings) string {
		v := strings.TrimSpace(raw)
		switch v {
		case "all":
			*field(s) = slices.Clone(ExternalSources)
			return ""
		case "none", "":
			*field(s) = []string{}
			return ""
		}
		var out []string
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if !slices.Contains(ExternalSources, item) {
				return "unknown source " + strconv.Quote(item) + "; want all, none or some of " + strings.Join(ExternalSources, ", ")
			}
			out = append(out, item)
		}
		*field(s) = out
		return ""
	}
}

func showSources(list []string) string {
	switch {
	case len(list) == 0:
		return "none"
	case len(list) == len(ExternalSources):
		return "all"
	}
	return strings.Join(list, ",")
}

// parseSize reads a byte count: a whole number, optionally with B, KiB,
// MiB or GiB (KB, MB and GB mean the same powers of two, as users mean).
func parseSize(raw string) (int64, string) {
	s := strings.TrimSpace(raw)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, "want a size such as 64MiB or 1048576"
	}
	return n * mult, ""
}

func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0 && n > 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n%(1<<20) == 0 && n > 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n%(1<<10) == 0 && n > 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration drops the zero tails time.Duration.String adds ("1m0s",
// "24h0m0s"), which read like a mistake in a settings table.
func formatDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
