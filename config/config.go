// Package config resolves the daemon's settings from flags, then CREDPOOL_*
// environment variables, then a TOML config file, then defaults, and
// remembers where each value came from so that `credpool daemon
// --print-config` can explain what is in effect.
//
// Every setting is one row of the settings table (settings.go): its names in
// each layer, its default, and one parse function, so a bad value gets the
// same error whichever layer it came from. Table settings ([strategies],
// [upstreams], [token_urls]) merge per key across the layers.
package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
)

// Sources values other than "env NAME" and "config PATH".
const (
	SourceFlag    = "flag"
	SourceDefault = "default"
)

// KeyConfig is the Sources key of where the config path came from.
const KeyConfig = "config"

// configDefaultText is how help says the default config file
// (paths.ConfigFile).
const configDefaultText = "$XDG_CONFIG_HOME/credpool/config.toml"

// Sentinels for errors.Is.
var (
	// ErrInvalid: a setting has a value that cannot be used (see *SettingError).
	ErrInvalid = errors.New("invalid setting")
	// ErrUnknownKey: the config file has a key this version does not know.
	ErrUnknownKey = errors.New("unknown config key")
)

// SettingError names the setting, where its value came from and the value.
// Setting values are paths, durations, addresses, names and URLs; a URL
// may carry a password in its user info or a key in its query, so for a
// setting of URLs Value has those cut out (quotable), and is safe to show.
type SettingError struct {
	Key    string // setting key, e.g. "tick"
	Source string // "flag", "env CREDPOOL_TICK", "config /path", "default"
	Value  string
	Reason string
}

// settingError builds every SettingError, so that no URL reaches one
// before quotable has cut what it may carry as a secret.
func settingError(key, source, value, reason string) *SettingError {
	if st, ok := settingOf(key); ok && st.urls {
		value = quotable(value)
	}
	return &SettingError{Key: key, Source: source, Value: value, Reason: reason}
}

// quotable is v (a URL, a pool=URL pair, or several URLs in one TOML
// value) with the user info and the query (and fragment) cut out, each
// replaced by "…". It cuts too much rather than too little: without a
// scheme the user info may begin after "pool=" or at the start, it runs to
// the last '@' before the query, and the query runs to the end of v.
func quotable(v string) string {
	start := 0
	if i := strings.Index(v, "://"); i >= 0 {
		start = i + len("://")
	} else if i := strings.IndexByte(v, '='); i >= 0 {
		start = i + 1
	}
	head, rest := v[:start], v[start:]
	q := strings.IndexAny(rest, "?#")
	if q < 0 {
		q = len(rest)
	}
	if at := strings.LastIndex(rest[:q], "@"); at >= 0 {
		rest, q = "…"+rest[at:], q-at+len("…")
	}
	switch {
	case q < len(rest):
		return head + rest[:q+1] + "…"
	case start > 0 && strings.Contains(rest, "://"):
		return head + quotable(rest)
	}
	return head + rest
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
	PruneDeadAfter time.Duration // 0 = never prune
	LeaseTTL       time.Duration // > 0
	MaxLeases      int           // leases per credential, >= 1
	LogLevel       string        // debug|info|warn|error
	LogFormat      string        // text|json
	MaxFileSize    int64         // bytes of auth.json read at most
	QuotaThreshold float64       // utilization at which a credential is skipped
	LongWait       time.Duration // a longer Retry-After rotates instead of waiting
	RefreshHorizon time.Duration // refresh OAuth tokens this long before they expire
	// ExternalLogins are the other tools whose logins are followed;
	// RefreshExternal those whose files credpool refreshes itself.
	ExternalLogins  []string
	RefreshExternal []string
	Gateway         string // the gateway's listen address, "" = off

	// Tables, key → value.
	Strategies map[string]string // provider → strategy; unlisted providers use fill_first
	Upstreams  map[string]string // pool → the gateway's upstream base URL
	TokenURLs  map[string]string // provider → OAuth token endpoint override

	ConfigFile string // the file that was read ("" if none)

	// Sources maps each setting key to "flag", "env CREDPOOL_X",
	// "config /path" or "default". A table's key lists every layer that
	// contributed (highest first, joined by ", "); "<table>.<key>" gives
	// the layer of each of its entries; "config" says where the config
	// file path came from.
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

// pairsFlag collects a repeated --flag K=V; it is checked in Load so that
// its errors read like those of every other layer.
type pairsFlag []string

func (f *pairsFlag) String() string { return strings.Join(*f, ",") }
func (f *pairsFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// Loader holds the registered flags until Load resolves them.
type Loader struct {
	fs         *flag.FlagSet
	configPath string
	values     map[string]*string    // scalar key → flag value
	pairs      map[string]*pairsFlag // table key → flag values
}

// RegisterFlags adds every setting's flag to fs and returns a loader to call
// after fs.Parse.
func RegisterFlags(fs *flag.FlagSet) *Loader { return register(fs, false) }

// RegisterClientFlags adds only the flags a client command needs
// (ClientFlags: --config, where the socket and the auth file are, and how
// much of auth.json an offline command reads), so that its help stays
// short and its own flags (select --strategy NAME) do not clash with the
// daemon's. The other settings still come from the environment, the
// config file and the defaults.
func RegisterClientFlags(fs *flag.FlagSet) *Loader { return register(fs, true) }

// ClientFlags are the flags RegisterClientFlags adds, for help texts.
func ClientFlags() []string {
	names := []string{"config"}
	for _, st := range settings {
		if st.client {
			names = append(names, st.flag)
		}
	}
	return names
}

func register(fs *flag.FlagSet, client bool) *Loader {
	l := &Loader{fs: fs, values: map[string]*string{}, pairs: map[string]*pairsFlag{}}
	fs.StringVar(&l.configPath, "config", "", "read settings from this TOML `file` (default "+configDefaultText+")")
	for _, st := range settings {
		if client && !st.client {
			continue
		}
		if st.table {
			p := &pairsFlag{}
			l.pairs[st.key] = p
			fs.Var(p, st.flag, st.help())
			continue
		}
		l.values[st.key] = fs.String(st.flag, "", st.help())
	}
	return l
}

// Load resolves the settings. Only flags that were set on the command line
// count; getenv (os.Getenv in production) supplies the environment. Empty
// environment variables count as unset.
func (l *Loader) Load(getenv func(string) string) (Settings, error) {
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	s := Settings{Sources: map[string]string{}}
	for _, st := range settings {
		if st.table {
			st.put(&s, "", "") // make the map
			continue
		}
		if st.def != "" {
			if why := st.parse(st.def, &s); why != "" {
				panic("config: default of " + st.key + ": " + why)
			}
		}
	}

	file, err := l.readConfig(set["config"], getenv, &s)
	if err != nil {
		return Settings{}, err
	}

	for _, st := range settings {
		if st.table {
			if err := l.mergeTable(st, &s, file, set[st.flag], getenv); err != nil {
				return Settings{}, err
			}
			continue
		}
		raw, src, ok := "", "", false
		switch {
		case set[st.flag] && l.values[st.key] != nil:
			raw, src, ok = *l.values[st.key], SourceFlag, true
		case getenv(st.env) != "":
			raw, src, ok = getenv(st.env), "env "+st.env, true
		default:
			if v, found := file.values[st.key]; found {
				raw, src, ok = v, file.source, true
			}
		}
		if !ok {
			s.Sources[st.key] = SourceDefault
			continue
		}
		if st.isPath {
			p, why := paths.Expand(raw, getenv)
			if why != "" {
				return Settings{}, settingError(st.key, src, raw, why)
			}
			raw = p
		}
		if why := st.parse(raw, &s); why != "" {
			return Settings{}, settingError(st.key, src, raw, why)
		}
		s.Sources[st.key] = src
	}

	if s.Sources[KeyAuthFile] == SourceDefault {
		p, ok := paths.AuthFile(getenv)
		if !ok {
			return Settings{}, settingError(KeyAuthFile, SourceDefault, "", "none of HERMES_HOME, XDG_CONFIG_HOME and HOME is set; give --auth-file")
		}
		s.AuthFile = p
	}
	if s.Sources[KeySocket] == SourceDefault {
		s.Socket = paths.Socket(getenv)
	}
	return s, nil
}

// mergeTable merges a table per key: a key named in a higher layer takes
// that layer's value, the others keep theirs.
func (l *Loader) mergeTable(st setting, s *Settings, file fileLayer, flagSet bool, getenv func(string) string) error {
	type layer struct {
		source string
		pairs  []string
	}
	var layers []layer // lowest first, so later ones overwrite
	if t := file.tables[st.key]; len(t) > 0 {
		layers = append(layers, layer{file.source, t})
	}
	if v := getenv(st.env); v != "" {
		var pairs []string
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				pairs = append(pairs, item)
			}
		}
		layers = append(layers, layer{"env " + st.env, pairs})
	}
	if flagSet && l.pairs[st.key] != nil {
		layers = append(layers, layer{SourceFlag, *l.pairs[st.key]})
	}
	var used []string
	for _, ly := range layers {
		if len(ly.pairs) == 0 {
			continue
		}
		used = append([]string{ly.source}, used...)
		for _, pair := range ly.pairs {
			k, v, ok := strings.Cut(pair, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return settingError(st.key, ly.source, pair, "want "+st.pairForm)
			}
			if why := st.check(k, v); why != "" {
				return settingError(st.key, ly.source, pair, why)
			}
			st.put(s, k, v)
			s.Sources[st.key+"."+k] = ly.source
		}
	}
	if len(used) == 0 {
		s.Sources[st.key] = SourceDefault
	} else {
		s.Sources[st.key] = strings.Join(used, ", ")
	}
	return nil
}
