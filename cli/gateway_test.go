package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/config"
)

// `credpool gateway token` makes the token at first use, where the daemon
// looks for it (beside the config), 0600, and prints the same one after.
func TestGatewayToken(t *testing.T) {
	env, _ := testEnv(t)
	first := runCLI(t, "", env, "gateway", "token")
	require.Equal(t, ExitOK, first.code, first.stderr.String())
	tok := strings.TrimSpace(first.stdout.String())
	assert.True(t, strings.HasPrefix(tok, "cpgw-"), tok)
	path := filepath.Join(env["HOME"], ".config", "credpool", "gateway.token")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cfg, err := gatewayConfig(Env{Getenv: func(k string) string { return env[k] }}, config.Settings{Gateway: "127.0.0.1:0"})
	require.NoError(t, err)
	assert.Equal(t, path, cfg.TokenFile, "the daemon reads the same file")

	again := runCLI(t, "", env, "gateway", "token")
	assert.Equal(t, first.stdout.String(), again.stdout.String())

	require.NoError(t, os.Chmod(path, 0o644))
	bad := runCLI(t, "", env, "gateway", "token")
	assert.Equal(t, ExitError, bad.code)
	assert.Contains(t, bad.stderr.String(), "chmod 600")
	assert.Empty(t, bad.stdout.String())
	assert.NotContains(t, bad.stderr.String(), tok)
}

// Without a daemon, `credpool gateway url` gives the configured address
// and says so; a port the daemon would pick (0) cannot be known, and bad
// input is a usage error.
func TestGatewayURLWithoutDaemon(t *testing.T) {
	env, _ := testEnv(t)
	tests := []struct {
		name           string
		extraEnv, args []string
		code           int
		stdout, stderr string
	}{
		{"configured", []string{"CREDPOOL_GATEWAY=127.0.0.1:8484"}, []string{"gateway", "url", "openai"}, ExitOK,
			"http://127.0.0.1:8484/openai\n", "the daemon is not running"},
		{"port 0", []string{"CREDPOOL_GATEWAY=127.0.0.1:0"}, []string{"gateway", "url", "openai"}, ExitUnreachable,
			"", "no fixed gateway address"},
		{"off", nil, []string{"gateway", "url", "openai"}, ExitUnreachable, "", "no fixed gateway address"},
		{"bad pool", nil, []string{"gateway", "url", "a/b"}, ExitUsage, "", "provider name"},
		{"no pool", nil, []string{"gateway", "url"}, ExitUsage, "", "one pool"},
		{"no subcommand", nil, []string{"gateway"}, ExitUsage, "", "token, or url POOL"},
		{"unknown subcommand", nil, []string{"gateway", "open"}, ExitUsage, "", "unknown gateway subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for _, kv := range tc.extraEnv {
				k, v, _ := strings.Cut(kv, "=")
				e[k] = v
			}
			r := runCLI(t, "", e, tc.args...)
			assert.Equal(t, tc.code, r.code, r.stderr.String())
			assert.Equal(t, tc.stdout, r.stdout.String())
			assert.Contains(t, r.stderr.String(), tc.stderr)
		})
	}
}
