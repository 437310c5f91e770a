package config

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/credpool/credpool/pool"
)

var slogLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

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
	row(KeyAuthFile, s.AuthFile, s.Sources[KeyAuthFile])
	row(KeySocket, s.Socket, s.Sources[KeySocket])
	row(KeyTick, formatDuration(s.Tick), s.Sources[KeyTick])
	prune := formatDuration(s.PruneDeadAfter)
	if s.PruneDeadAfter == 0 {
		prune = "0 (never)"
	}
	row(KeyPruneDeadAfter, prune, s.Sources[KeyPruneDeadAfter])
	row(KeyLeaseTTL, formatDuration(s.LeaseTTL), s.Sources[KeyLeaseTTL])
	row(KeyMaxLeases, strconv.Itoa(s.MaxLeases), s.Sources[KeyMaxLeases])

	providers := make([]string, 0, len(s.Strategies))
	for p := range s.Strategies {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	for _, p := range providers {
		src := s.Sources[KeyStrategies+"."+p]
		if src == "" {
			src = s.Sources[KeyStrategies]
		}
		row(KeyStrategies+"."+p, s.Strategies[p], src)
	}
	other := "every provider: "
	if len(providers) > 0 {
		other = "other providers: "
	}
	row(KeyStrategies, other+string(pool.FillFirst), SourceDefault)

	row(KeyLogLevel, s.LogLevel, s.Sources[KeyLogLevel])
	row(KeyLogFormat, s.LogFormat, s.Sources[KeyLogFormat])
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	return nil
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

// Logger returns a log/slog logger writing to w at LogLevel in LogFormat.
// Empty fields mean the defaults, so a hand-built Settings works.
func (s Settings) Logger(w io.Writer) (*slog.Logger, error) {
	if s.LogLevel == "" {
		s.LogLevel = DefaultLogLevel
	}
	if s.LogFormat == "" {
		s.LogFormat = DefaultLogFormat
	}
	level, ok := slogLevels[s.LogLevel]
	if !ok {
		return nil, &SettingError{Key: KeyLogLevel, Source: s.Sources[KeyLogLevel], Value: s.LogLevel,
			Reason: "want debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch s.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &SettingError{Key: KeyLogFormat, Source: s.Sources[KeyLogFormat], Value: s.LogFormat,
		Reason: "want text or json"}
}
