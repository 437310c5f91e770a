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
	source string              // "config /path"
	values map[string]string   // scalar key → raw value
	tables map[string][]string // table key → "k=v" pairs, sorted
}

// readConfig finds and parses the config file. A missing default file is
// fine; a missing file named by --config is an error.
func (l *Loader) readConfig(explicit bool, getenv func(string) string, s *Settings) (fileLayer, error) {
	var path string
	if explicit {
		s.Sources[KeyConfig] = SourceFlag
		p, why := paths.Expand(l.configPath, getenv)
		if why != "" {
			return fileLayer{}, settingError(KeyConfig, SourceFlag, l.configPath, why)
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

// parseConfig decodes the file generically, so that a value of the wrong
// type reaches the same per-setting error as a bad string, and a bare 0
// works for a duration.
func parseConfig(path string, data []byte) (fileLayer, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return fileLayer{}, fmt.Errorf("config: parse %s: %w", path, err)
	}
	fl := fileLayer{source: "config " + path, values: map[string]string{}, tables: map[string][]string{}}
	var unknown []string
	for key, v := range raw {
		st, ok := settingOf(key)
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		if st.table {
			t, ok := v.(map[string]any)
			if !ok {
				return fileLayer{}, settingError(key, fl.source, fmt.Sprint(v), "want a ["+key+"] table")
			}
			for k, x := range t {
				str, ok := x.(string)
				if !ok {
					return fileLayer{}, fmt.Errorf("config: parse %s: [%s] %s: want a string, got %T", path, key, k, x)
				}
				fl.tables[key] = append(fl.tables[key], k+"="+str)
			}
			sort.Strings(fl.tables[key])
			continue
		}
		switch v := v.(type) {
		case string:
			fl.values[key] = v
		case int64:
			// max_leases = 2, and a bare 0 for a duration; other bare
			// numbers fail the duration parse with "missing unit".
			fl.values[key] = strconv.FormatInt(v, 10)
		case float64:
			fl.values[key] = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			return fileLayer{}, settingError(key, fl.source, fmt.Sprint(v), fmt.Sprintf("a TOML %T is not allowed here; use a string", v))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fileLayer{}, fmt.Errorf("config: %s: %w %s (known keys: %s)",
			path, ErrUnknownKey, strings.Join(unknown, ", "), knownKeys())
	}
	return fl, nil
}

func settingOf(key string) (setting, bool) {
	for _, st := range settings {
		if st.key == key {
			return st, true
		}
	}
	return setting{}, false
}

func knownKeys() string {
	keys := make([]string, 0, len(settings))
	for _, st := range settings {
		if st.table {
			keys = append(keys, "["+st.key+"]")
		} else {
			keys = append(keys, st.key)
		}
	}
	return strings.Join(keys, ", ")
}
