package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/credpool/credpool/paths"
)

// fileLayer is the config file reduced to raw strings, like the other layers.
type fileLayer struct {
	source     string            // "config /path"
	values     map[string]string // scalar key → raw value
	strategies map[string]string
}

// fileSettings is the config file's schema. Scalars are decoded as any so
// that a wrong type reaches the same per-setting error as a bad string, and
// so that a bare 0 works for durations.
type fileSettings struct {
	AuthFile       any               `toml:"auth_file"`
	Socket         any               `toml:"socket"`
	Tick           any               `toml:"tick"`
	PruneDeadAfter any               `toml:"prune_dead_after"`
	LeaseTTL       any               `toml:"lease_ttl"`
	MaxLeases      any               `toml:"max_leases"`
	LogLevel       any               `toml:"log_level"`
	LogFormat      any               `toml:"log_format"`
	Strategies     map[string]string `toml:"strategies"`
}

// readConfig finds and parses the config file. A missing default file is
// fine; a missing file named by --config is an error.
func (l *Loader) readConfig(explicit bool, getenv func(string) string, s *Settings) (fileLayer, error) {
	var path string
	if explicit {
		s.Sources[KeyConfig] = SourceFlag
		p, why := paths.Expand(l.configPath, getenv)
		if why != "" {
			return fileLayer{}, &SettingError{Key: KeyConfig, Source: SourceFlag, Value: l.configPath, Reason: why}
		}
		path = p
	} else {
		s.Sources[KeyConfig] = SourceDefault
		p, ok := paths.ConfigFile(getenv)
		if !ok {
			return fileLayer{}, nil
		}
		path = p
	}

	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			s.configLookedFor = path
			return fileLayer{}, nil
		}
		return fileLayer{}, fmt.Errorf("config: read config file: %w", err)
	}
	fl, err := parseConfig(path, data)
	if err != nil {
		return fileLayer{}, err
	}
	s.ConfigFile = path
	return fl, nil
}

func parseConfig(path string, data []byte) (fileLayer, error) {
	var f fileSettings
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return fileLayer{}, fmt.Errorf("config: parse %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fileLayer{}, fmt.Errorf("config: %s: %w %s (known keys: %s and a [strategies] table)",
			path, ErrUnknownKey, strings.Join(keys, ", "), knownKeys())
	}

	fl := fileLayer{source: "config " + path, values: map[string]string{}, strategies: f.Strategies}
	for key, v := range map[string]any{
		KeyAuthFile: f.AuthFile, KeySocket: f.Socket, KeyTick: f.Tick,
		KeyPruneDeadAfter: f.PruneDeadAfter, KeyLeaseTTL: f.LeaseTTL, KeyMaxLeases: f.MaxLeases,
		KeyLogLevel: f.LogLevel, KeyLogFormat: f.LogFormat,
	} {
		if !md.IsDefined(key) {
			continue
		}
		switch v := v.(type) {
		case string:
			fl.values[key] = v
		case int64:
			// max_leases = 2, and a bare 0 for a duration; other bare
			// numbers fail the duration parse with "missing unit".
			fl.values[key] = strconv.FormatInt(v, 10)
		default:
			return fileLayer{}, &SettingError{Key: key, Source: fl.source, Value: fmt.Sprint(v),
				Reason: fmt.Sprintf("a TOML %T is not allowed here; use a string", v)}
		}
	}
	return fl, nil
}

func knownKeys() string {
	keys := make([]string, len(scalars))
	for i, sc := range scalars {
		keys[i] = sc.key
	}
	return strings.Join(keys, ", ")
}
