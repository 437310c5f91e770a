package daemontest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/credpool/credpool/extlogin"
)

// A developer's own CODEX_HOME (or any tool home extlogin follows) must not
// reach the daemon under test, nor their HOME or pool.
func TestCleanEnvDropsEveryToolHome(t *testing.T) {
	for _, v := range append(extlogin.EnvVars(), "HERMES_HOME", "CREDPOOL_AUTH_FILE") {
		t.Setenv(v, "/the/developers/own")
	}
	t.Setenv("HOME", "/the/developers/own")
	t.Setenv("KEEP_ME", "yes")
	env := cleanEnv("/test/home")
	assert.Contains(t, env, "HOME=/test/home")
	assert.Contains(t, env, "KEEP_ME=yes")
	for _, kv := range env {
		assert.False(t, strings.HasSuffix(kv, "=/the/developers/own"), kv)
	}
}
