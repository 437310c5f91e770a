package config

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/golden"
)

func TestPrint(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		args   []string
		env    map[string]string
		file   string // config file content; "" = no config file
	}{
		{
			name: "defaults", golden: "print_defaults.txt",
			args: []string{"--socket=/run/user/1000/credpool/credpool.sock"},
			env:  map[string]string{"HOME": "/nonexistent/alice", "HERMES_HOME": "/nonexistent/alice/.hermes"},
		},
		{
			name: "every layer", golden: "print_layers.txt",
			args: []string{"--config", "<dir>/config.toml", "--tick=100ms", "--strategy=openrouter=round_robin", "--socket=/tmp/t/credpool.sock"},
			env: map[string]string{"HOME": "/nonexistent/alice", "CREDPOOL_LEASE_TTL": "90m",
				"CREDPOOL_STRATEGY": "anthropic=least_used", "CREDPOOL_LOG_FORMAT": "json"},
			file: "auth_file = \"~/auth.json\"\nprune_dead_after = 0\nmax_leases = 2\n[strategies]\nopenrouter = \"random\"\nnous = \"fill_first\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				writeFile(t, filepath.Join(dir, "config.toml"), tt.file)
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "<dir>", dir)
			}
			s, err := load(t, args, tt.env)
			require.NoError(t, err)
			// The temp dir is hidden before rendering, so that column
			// widths do not depend on its length.
			s.ConfigFile = strings.ReplaceAll(s.ConfigFile, dir, "<dir>")
			for k, v := range s.Sources {
				s.Sources[k] = strings.ReplaceAll(v, dir, "<dir>")
			}
			var buf bytes.Buffer
			require.NoError(t, s.Print(&buf))
			golden.Assert(t, tt.golden, buf.Bytes())
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 100 * time.Millisecond: "100ms", time.Minute: "1m", 90 * time.Second: "1m30s",
		24 * time.Hour: "24h", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s",
	} {
		assert.Equal(t, want, formatDuration(d), d.String())
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantDebug     bool
		wantInfo      bool
	}{
		{"debug", "text", true, true},
		{"info", "json", false, true},
		{"warn", "text", false, false},
		{"error", "json", false, false},
		{"", "", false, true}, // zero Settings: info, text
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := Settings{LogLevel: tt.level, LogFormat: tt.format}.Logger(&buf)
			require.NoError(t, err)
			log.Debug("d-msg")
			log.Info("i-msg")
			log.Warn("w-msg")
			log.Error("e-msg")
			out := buf.String()
			assert.Equal(t, tt.wantDebug, strings.Contains(out, "d-msg"))
			assert.Equal(t, tt.wantInfo, strings.Contains(out, "i-msg"))
			assert.Equal(t, tt.level != "error", strings.Contains(out, "w-msg"))
			assert.Contains(t, out, "e-msg")

			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.NotEmpty(t, lines)
			for _, line := range lines {
				var m map[string]any
				isJSON := json.Unmarshal([]byte(line), &m) == nil
				assert.Equal(t, tt.format == "json", isJSON, line)
				if !isJSON {
					assert.Contains(t, line, "level=")
				}
			}
		})
	}

	t.Run("bad values", func(t *testing.T) {
		_, err := Settings{LogLevel: "loud"}.Logger(&bytes.Buffer{})
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "want debug, info, warn or error", "the reason the settings give")
		_, err = Settings{LogFormat: "xml"}.Logger(&bytes.Buffer{})
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "want text or json")
		_, loadErr := load(t, []string{"--log-level", "loud"}, isolatedEnv(t))
		var se *SettingError
		require.ErrorAs(t, loadErr, &se)
		_, err = Settings{LogLevel: "loud"}.Logger(&bytes.Buffer{})
		assert.ErrorContains(t, err, se.Reason, "Load and Logger refuse alike")
	})
}
