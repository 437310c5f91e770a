package config

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
)

// logLevels is the one table of log levels: the names log_level takes, in
// the order help lists them, and what each is to slog.
var logLevels = []struct {
	name  string
	level slog.Level
}{{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}}

var logLevelNames = func() []string {
	names := make([]string, len(logLevels))
	for i, l := range logLevels {
		names[i] = l.name
	}
	return names
}()

// logFormats are the names log_format takes; Logger has a handler for each.
var logFormats = []string{"text", "json"}

// Print writes the settings in effect as a table of setting, value and
// source, for `credpool daemon --print-config`.
func (s Settings) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(key, value, source string) {
		if source == "" {
			source = SourceDefault
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", key, value, source)
	}
	row("SETTING", "VALUE", "SOURCE")

	cfg, cfgSource := s.ConfigFile, s.Sources[KeyConfig]
	if cfg == "" {
		cfg = "(none)"
		if s.configLookedFor != "" {
			cfgSource = SourceDefault + " (" + s.configLookedFor + " does not exist)"
		}
	}
	row(KeyConfig, cfg, cfgSource)
	for _, st := range settings {
		if !st.table {
			row(st.key, st.show(s), s.Sources[st.key])
			continue
		}
		t := st.get(s)
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			src := s.Sources[st.key+"."+k]
			if src == "" {
				src = s.Sources[st.key]
			}
			row(st.key+"."+k, t[k], src)
		}
		other := "every one: "
		if len(keys) > 0 {
			other = "the others: "
		}
		row(st.key, other+st.other, SourceDefault)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	return nil
}

// Logger returns a log/slog logger writing to w at LogLevel in LogFormat.
// Empty fields mean the settings' defaults, so a hand-built Settings works;
// a value the settings would refuse is refused with their reason.
func (s Settings) Logger(w io.Writer) (*slog.Logger, error) {
	for _, key := range []string{KeyLogLevel, KeyLogFormat} {
		st, _ := settingOf(key)
		raw := st.show(s)
		if raw == "" {
			raw = st.def
		}
		if why := st.parse(raw, &s); why != "" {
			return nil, settingError(key, s.Sources[key], raw, why)
		}
	}
	var opts slog.HandlerOptions
	for _, l := range logLevels {
		if l.name == s.LogLevel {
			opts.Level = l.level
		}
	}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, &opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, &opts)), nil
}

// FlagHelp is the settings' part of the command line's help: one line per
// flag, from the settings table, so that help and flags cannot disagree.
func FlagHelp() string {
	var b strings.Builder
	line := func(flag, arg, env, usage string) {
		name := "--" + flag + " " + arg
		fmt.Fprintf(&b, "  %-28s %s", name, usage)
		if env != "" {
			fmt.Fprintf(&b, " [%s]", env)
		}
		b.WriteString("\n")
	}
	line("config", "PATH", "", "config file (default "+configDefaultText+")")
	for _, st := range settings {
		arg, usage := flag.UnquoteUsage(&flag.Flag{Name: st.flag, Usage: st.help(), Value: placeholder{}})
		line(st.flag, strings.ToUpper(arg), st.env, usage)
	}
	return b.String()
}

// placeholder is a flag.Value for UnquoteUsage, which only reads the usage.
type placeholder struct{}

func (placeholder) String() string   { return "" }
func (placeholder) Set(string) error { return nil }

// Markdown is the settings table of the README, from the settings table:
// one row per setting, with its flag, variable, config key, default and
// what it does (the help text).
func Markdown() string {
	var b strings.Builder
	b.WriteString("| config key | flag | environment | default | what it does |\n|---|---|---|---|---|\n")
	for _, st := range settings {
		arg, usage := flag.UnquoteUsage(&flag.Flag{Name: st.flag, Usage: st.usage, Value: placeholder{}})
		flagText := "--" + st.flag + " " + strings.ToUpper(arg)
		key := "`" + st.key + "`"
		if st.table {
			key = "`[" + st.key + "]` table"
		}
		def := st.defaultText()
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s | %s |\n", key, flagText, st.env, def, strings.ReplaceAll(usage, "|", "\\|"))
	}
	return b.String()
}
