package paths

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SocketCase is a row of testdata/socket_paths.json, which the Python
// client's tests read too: both must agree on every row.
type SocketCase struct {
	Name   string            `json:"name"`
	GOOS   string            `json:"goos"`
	Env    map[string]string `json:"env"`
	Want   string            `json:"want"`
	Client bool              `json:"client"` // the row is about the client's lookup (CREDPOOL_SOCKET)
}

func TestSocketPathsGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/socket_paths.json")
	require.NoError(t, err)
	var cases []SocketCase
	require.NoError(t, json.Unmarshal(raw, &cases))
	require.NotEmpty(t, cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			getenv := func(k string) string { return tc.Env[k] }
			want := strings.ReplaceAll(tc.Want, "{uid}", strconv.Itoa(os.Getuid()))
			got := socket(tc.GOOS, getenv, os.Getuid())
			if tc.Client {
				if p := getenv(SocketEnv); p != "" {
					got = p
				}
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestSocketForHonoursTheEnvironment(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/run/user/7"}
	getenv := func(k string) string { return env[k] }
	assert.Equal(t, Socket(getenv), SocketFor(getenv))
	env[SocketEnv] = "/elsewhere/c.sock"
	assert.Equal(t, "/elsewhere/c.sock", SocketFor(getenv))
}

func TestFilesBesideEachOther(t *testing.T) {
	env := map[string]string{"HOME": "/home/a"}
	getenv := func(k string) string { return env[k] }
	p, ok := AuthFile(getenv)
	require.True(t, ok)
	assert.Equal(t, "/home/a/.config/credpool/auth.json", p)
	env["HERMES_HOME"] = "~/.hermes"
	p, ok = AuthFile(getenv)
	require.True(t, ok)
	assert.Equal(t, "/home/a/.hermes/auth.json", p)
	assert.Equal(t, "/home/a/.hermes/credpool-state.json", State(p))
	c, _ := ConfigFile(getenv)
	g, _ := GatewayToken(getenv)
	assert.Equal(t, "/home/a/.config/credpool/config.toml", c)
	assert.Equal(t, "/home/a/.config/credpool/gateway.token", g)
	_, ok = AuthFile(func(string) string { return "" })
	assert.False(t, ok)
}
