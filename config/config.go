// Package config resolves the daemon's settings (DESIGN §6) from flags, then
// CREDPOOL_* environment variables, then a TOML config file, then defaults,
// and remembers where each value came from so that
// `credpool daemon --print-config` can explain what is in effect.
//
// Every layer is reduced to raw strings first and parsed by one function per
// setting, so a bad value gets the same error whichever layer it came from.
package config

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
)

// Setting keys: the config-file keys, and the keys of Settings.Sources.
const (
	KeyConfig         = "config" // only in Sources: where the config path came from
	KeyAuthFile       = "auth_file"
	KeySocket         = "socket"
	KeyTick           = "tick"
	KeyPruneDeadAfter = "prune_dead_after"
	KeyLeaseTTL       = "lease_ttl"
	KeyMaxLeases      = "max_leases"
	KeyStrategies     = "strategies"
	KeyLogLevel       = "log_level"
	KeyLogFormat      = "log_format"
)

// Defaults and limits of the settings that do not depend on the environment.
const (
	DefaultTick           = 60 * time.Second
	MinTick               = 100 * time.Millisecond
	DefaultPruneDeadAfter = 24 * time.Hour
	DefaultLeaseTTL       = 10 * time.Minute
	DefaultMaxLeases      = 1
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
)

// Sources values other than "env NAME" and "config PATH".
const (
	SourceFlag    = "flag"
	SourceDefault = "default"
)

// Sentinels for errors.Is.
var (
	// ErrInvalid: a setting has a value that cannot be used (see *SettingError).
	ErrInvalid = errors.New("invalid setting")
	// ErrUnknownKey: the config file has a key this version does not know.
	ErrUnknownKey = errors.New("unknown config key")
)

// SettingError names the setting, where its value came from and the value.
// Setting values are paths, durations and names, never secrets, so they are
// safe to show.
type SettingError struct {
	Key    string // setting key, e.g. "tick"
	Source string // "flag", "env CREDPOOL_TICK", "config /path", "default"
	Value  string
	Reason string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("config: %s from %s: bad value %q: %s", e.Key, e.Source, e.Value, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *SettingError) Unwrap() error { return ErrInvalid }

// Settings are the daemon's settings in effect.
type Settings struct {
	AuthFile       string
	Socket         string
	Tick           time.Duration
	PruneDeadAfter time.Duration     // 0 = never prune
	LeaseTTL       time.Duration     // > 0
	MaxLeases      int               // leases per credential, >= 1
	Strategies     map[string]string // provider → strategy; unlisted providers use fill_first
	LogLevel       string            // debug|info|warn|error
	LogFormat      string            // text|json
	ConfigFile     string            // the file that was read ("" if none)

	// Sources maps each setting key to "flag", "env CREDPOOL_X",
	// "config /path" or "default". "strategies" lists every layer that
	// contributed (highest first, joined by ", "); "strategies.<provider>"
	// gives the layer of each provider's strategy; "config" says where the
	// config file path came from.
	Sources map[string]string

	configLookedFor string // the default config path that did not exist, for Print
}

// PoolStrategies converts Strategies to what pool.Config takes.
func (s Settings) PoolStrategies() map[string]pool.Strategy {
	m := make(map[string]pool.Strategy, len(s.Strategies))
	for p, name := range s.Strategies {
		m[p] = pool.Strategy(name)
	}
	return m
}

// scalar describes one single-valued setting: its names in each layer and
// how its raw string becomes a value in Settings.
type scalar struct {
	key, flag, env, usage string
	isPath                bool
	parse                 func(raw string, s *Settings) (reason string)
}

var scalars = []scalar{
	{key: KeyAuthFile, flag: "auth-file", env: "CREDPOOL_AUTH_FILE", isPath: true,
		usage: "`path` of the auth.json to serve (default $HERMES_HOME/auth.json, else $XDG_CONFIG_HOME/credpool/auth.json)",
		parse: func(raw string, s *Settings) string { s.AuthFile = raw; return "" }},
	{key: KeySocket, flag: "socket", env: "CREDPOOL_SOCKET", isPath: true,
		usage: "Unix socket `path` (default $XDG_RUNTIME_DIR/credpool/credpool.sock)",
		parse: func(raw string, s *Settings) string { s.Socket = raw; return "" }},
	{key: KeyTick, flag: "tick", env: "CREDPOOL_TICK",
		usage: "`duration` between runs of prune, lease expiry, counter flush and file re-stat (default 60s, minimum 100ms)",
		parse: func(raw string, s *Settings) string {
			return parseDuration(raw, &s.Tick, func(d time.Duration) string {
				if d < MinTick {
					return "must be at least " + MinTick.String()
				}
				return ""
			})
		}},
	{key: KeyPruneDeadAfter, flag: "prune-dead-after", env: "CREDPOOL_PRUNE_DEAD_AFTER",
		usage: "remove DEAD manual entries after this `duration` (default 24h, 0 = never)",
		parse: func(raw string, s *Settings) string {
			return parseDuration(raw, &s.PruneDeadAfter, func(d time.Duration) string {
				if d < 0 {
					return "must not be negative (0 = never)"
				}
				return ""
			})
		}},
	{key: KeyLeaseTTL, flag: "lease-ttl", env: "CREDPOOL_LEASE_TTL",
		usage: "a lease ends by itself after this `duration` (default 10m)",
		parse: func(raw string, s *Settings) string {
			return parseDuration(raw, &s.LeaseTTL, func(d time.Duration) string {
				if d <= 0 {
					return "must be greater than 0"
				}
				return ""
			})
		}},
	{key: KeyMaxLeases, flag: "max-leases", env: "CREDPOOL_MAX_LEASES",
		usage: "`n` leases held at once on one credential (default 1)",
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
		}},
	{key: KeyLogLevel, flag: "log-level", env: "CREDPOOL_LOG_LEVEL",
		usage: "`level`: debug, info, warn or error (default info)",
		parse: func(raw string, s *Settings) string {
			v := strings.ToLower(strings.TrimSpace(raw))
			if _, ok := slogLevels[v]; !ok {
				return "want debug, info, warn or error"
			}
			s.LogLevel = v
			return ""
		}},
	{key: KeyLogFormat, flag: "log-format", env: "CREDPOOL_LOG_FORMAT",
		usage: "`format`: text or json (default text)",
		parse: func(raw string, s *Settings) string {
			v := strings.ToLower(strings.TrimSpace(raw))
			if v != "text" && v != "json" {
				return "want text or json"
			}
			s.LogFormat = v
			return ""
		}},
}

const (
	strategyFlagName = "strategy"
	strategyEnv      = "CREDPOOL_STRATEGY"
)

func parseDuration(raw string, dst *time.Duration, check func(time.Duration) string) string {
	d, err := time.ParseDuration(strings.TrimSpace(raw))
	if err != nil {
		return `not a duration (use Go syntax such as "200ms", "10m", "24h")`
	}
	if why := check(d); why != "" {
		return why
	}
	*dst = d
	return ""
}

// strategyNames lists pool's strategies for help texts and errors.
func strategyNames() string {
	names := make([]string, len(pool.Strategies))
	for i, s := range pool.Strategies {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// strategyFlag collects repeated --strategy P=NAME; it is checked in Load so
// that its errors read like those of every other layer.
type strategyFlag []string

func (f *strategyFlag) String() string { return strings.Join(*f, ",") }
func (f *strategyFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// Loader holds the registered flags until Load resolves them.
type Loader struct {
	fs         *flag.FlagSet
	configPath string
	values     map[string]*string // scalar key → flag value
	strategies strategyFlag
}

// RegisterFlags adds the settings flags to fs and returns a loader to call
// after fs.Parse.
func RegisterFlags(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs, values: make(map[string]*string, len(scalars))}
	fs.StringVar(&l.configPath, "config", "", "read settings from this TOML `file` (default $XDG_CONFIG_HOME/credpool/config.toml)")
	for _, sc := range scalars {
		l.values[sc.key] = fs.String(sc.flag, "", sc.usage)
	}
	fs.Var(&l.strategies, strategyFlagName,
		"`provider=name` strategy for a provider: "+strategyNames()+" (repeatable; default fill_first)")
	return l
}

// RegisterClientFlags adds only the flags a client command needs (--config,
// --auth-file, --socket), so that its help stays short and its own flags
// (select --strategy NAME) do not clash with the daemon's. The other settings
// still come from the environment, the config file and the defaults.
func RegisterClientFlags(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs, values: make(map[string]*string, len(scalars))}
	fs.StringVar(&l.configPath, "config", "", "read settings from this TOML `file` (default $XDG_CONFIG_HOME/credpool/config.toml)")
	for _, sc := range scalars {
		if sc.key == KeyAuthFile || sc.key == KeySocket {
			l.values[sc.key] = fs.String(sc.flag, "", sc.usage)
		}
	}
	return l
}

// Load resolves the settings. Only flags that were set on the command line
// count; getenv (os.Getenv in production) supplies the environment. Empty
// environment variables count as unset.
func (l *Loader) Load(getenv func(string) string) (Settings, error) {
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	s := Settings{
		Tick:           DefaultTick,
		PruneDeadAfter: DefaultPruneDeadAfter,
		LeaseTTL:       DefaultLeaseTTL,
		MaxLeases:      DefaultMaxLeases,
		Strategies:     map[string]string{},
		LogLevel:       DefaultLogLevel,
		LogFormat:      DefaultLogFormat,
		Sources:        map[string]string{},
	}

	file, err := l.readConfig(set["config"], getenv, &s)
	if err != nil {
		return Settings{}, err
	}

	for _, sc := range scalars {
		raw, src, ok := "", "", false
		switch {
		case set[sc.flag]:
			raw, src, ok = *l.values[sc.key], SourceFlag, true
		case getenv(sc.env) != "":
			raw, src, ok = getenv(sc.env), "env "+sc.env, true
		default:
			if v, found := file.values[sc.key]; found {
				raw, src, ok = v, file.source, true
			}
		}
		if !ok {
			s.Sources[sc.key] = SourceDefault
			continue
		}
		if sc.isPath {
			p, why := paths.Expand(raw, getenv)
			if why != "" {
				return Settings{}, &SettingError{Key: sc.key, Source: src, Value: raw, Reason: why}
			}
			raw = p
		}
		if why := sc.parse(raw, &s); why != "" {
			return Settings{}, &SettingError{Key: sc.key, Source: src, Value: raw, Reason: why}
		}
		s.Sources[sc.key] = src
	}

	if err := l.mergeStrategies(&s, file, set[strategyFlagName], getenv); err != nil {
		return Settings{}, err
	}

	if s.Sources[KeyAuthFile] == SourceDefault {
		p, ok := paths.AuthFile(getenv)
		if !ok {
			return Settings{}, &SettingError{Key: KeyAuthFile, Source: SourceDefault, Value: "",
				Reason: "none of HERMES_HOME, XDG_CONFIG_HOME and HOME is set; give --auth-file"}
		}
		s.AuthFile = p
	}
	if s.Sources[KeySocket] == SourceDefault {
		s.Socket = paths.Socket(getenv)
	}
	return s, nil
}

// mergeStrategies merges per provider: a provider named in a higher layer
// takes that layer's strategy, the others keep theirs.
func (l *Loader) mergeStrategies(s *Settings, file fileLayer, flagSet bool, getenv func(string) string) error {
	type layer struct {
		source string
		pairs  []string
	}
	var layers []layer // lowest first, so later ones overwrite
	if len(file.strategies) > 0 {
		providers := make([]string, 0, len(file.strategies))
		for p := range file.strategies {
			providers = append(providers, p)
		}
		sort.Strings(providers)
		pairs := make([]string, 0, len(providers))
		for _, p := range providers {
			pairs = append(pairs, p+"="+file.strategies[p])
		}
		layers = append(layers, layer{file.source, pairs})
	}
	if v := getenv(strategyEnv); v != "" {
		var pairs []string
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				pairs = append(pairs, item)
			}
		}
		layers = append(layers, layer{"env " + strategyEnv, pairs})
	}
	if flagSet {
		layers = append(layers, layer{SourceFlag, l.strategies})
	}

	var used []string
	for _, ly := range layers {
		if len(ly.pairs) == 0 {
			continue
		}
		used = append([]string{ly.source}, used...)
		for _, pair := range ly.pairs {
			p, name, ok := strings.Cut(pair, "=")
			p, name = strings.TrimSpace(p), strings.TrimSpace(name)
			switch {
			case !ok || p == "":
				return &SettingError{Key: KeyStrategies, Source: ly.source, Value: pair, Reason: "want provider=strategy"}
			case !pool.ValidStrategy(pool.Strategy(name)):
				return &SettingError{Key: KeyStrategies, Source: ly.source, Value: pair,
					Reason: "unknown strategy " + strconv.Quote(name) + "; want one of " + strategyNames()}
			}
			s.Strategies[p] = name
			s.Sources[KeyStrategies+"."+p] = ly.source
		}
	}
	if len(used) == 0 {
		s.Sources[KeyStrategies] = SourceDefault
	} else {
		s.Sources[KeyStrategies] = strings.Join(used, ", ")
	}
	return nil
}
