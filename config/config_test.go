package config

import (
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/paths"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// envOf turns a map into a getenv; unset names read as "".
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// load parses args like `credpool daemon` would and resolves the settings.
func load(t *testing.T, args []string, env map[string]string) (Settings, error) {
	t.Helper()
	fs := flag.NewFlagSet("credpool daemon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	return l.Load(envOf(env))
}

// isolatedEnv has a HOME and XDG_CONFIG_HOME that hold no config file, so
// no test reads the real user's settings.
func isolatedEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{"HOME": filepath.Join(dir, "home"), "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		authFile   string
		configTry  string // the default config path looked for
		wantErrKey string
	}{
		{name: "HOME only", env: map[string]string{"HOME": "/nonexistent/alice"},
			authFile: "/nonexistent/alice/.config/credpool/auth.json", configTry: "/nonexistent/alice/.config/credpool/config.toml"},
		{name: "XDG_CONFIG_HOME", env: map[string]string{"HOME": "/nonexistent/alice", "XDG_CONFIG_HOME": "/nonexistent/xdg"},
			authFile: "/nonexistent/xdg/credpool/auth.json", configTry: "/nonexistent/xdg/credpool/config.toml"},
		{name: "relative XDG_CONFIG_HOME is ignored", env: map[string]string{"HOME": "/nonexistent/alice", "XDG_CONFIG_HOME": "rel/xdg"},
			authFile: "/nonexistent/alice/.config/credpool/auth.json", configTry: "/nonexistent/alice/.config/credpool/config.toml"},
		{name: "HERMES_HOME wins for the auth file only", env: map[string]string{"HOME": "/nonexistent/alice", "XDG_CONFIG_HOME": "/nonexistent/xdg", "HERMES_HOME": "/nonexistent/hermes"},
			authFile: "/nonexistent/hermes/auth.json", configTry: "/nonexistent/xdg/credpool/config.toml"},
		{name: "HERMES_HOME with ~", env: map[string]string{"HOME": "/nonexistent/alice", "HERMES_HOME": "~/.hermes"},
			authFile: "/nonexistent/alice/.hermes/auth.json", configTry: "/nonexistent/alice/.config/credpool/config.toml"},
		{name: "HERMES_HOME without HOME", env: map[string]string{"HERMES_HOME": "/nonexistent/hermes"},
			authFile: "/nonexistent/hermes/auth.json"},
		{name: "nothing set", env: map[string]string{}, wantErrKey: KeyAuthFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(t, nil, tt.env)
			if tt.wantErrKey != "" {
				var se *SettingError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.wantErrKey, se.Key)
				assert.Equal(t, SourceDefault, se.Source)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.authFile, s.AuthFile)
			assert.Equal(t, paths.Socket(envOf(tt.env)), s.Socket)
			assert.Equal(t, 60*time.Second, s.Tick)
			assert.Equal(t, 24*time.Hour, s.PruneDeadAfter)
			assert.Equal(t, 10*time.Minute, s.LeaseTTL)
			assert.Equal(t, 1, s.MaxLeases)
			assert.Empty(t, s.Strategies)
			assert.Equal(t, "info", s.LogLevel)
			assert.Equal(t, "text", s.LogFormat)
			assert.Empty(t, s.ConfigFile)
			assert.Equal(t, tt.configTry, s.configLookedFor)
			for _, key := range []string{KeyConfig, KeyAuthFile, KeySocket, KeyTick, KeyPruneDeadAfter,
				KeyLeaseTTL, KeyMaxLeases, KeyStrategies, KeyLogLevel, KeyLogFormat} {
				assert.Equal(t, SourceDefault, s.Sources[key], key)
			}
		})
	}
}

// layered describes one setting in each layer, for the precedence table.
type layered struct {
	key                      string
	flag, env, file          string // the argument, the env value, the TOML line
	flagV, envV, fileV, defV any
	get                      func(Settings) any
}

func TestPrecedence(t *testing.T) {
	home := "/nonexistent/alice"
	settings := []layered{
		{key: KeyAuthFile, flag: "--auth-file=/f/auth.json", env: "/e/auth.json", file: `auth_file = "~/c/auth.json"`,
			flagV: "/f/auth.json", envV: "/e/auth.json", fileV: home + "/c/auth.json", defV: home + "/.config/credpool/auth.json",
			get: func(s Settings) any { return s.AuthFile }},
		{key: KeySocket, flag: "--socket=~/f.sock", env: "/e.sock", file: `socket = "/c.sock"`,
			flagV: home + "/f.sock", envV: "/e.sock", fileV: "/c.sock", defV: paths.Socket(envOf(map[string]string{"HOME": home})),
			get: func(s Settings) any { return s.Socket }},
		{key: KeyTick, flag: "--tick=100ms", env: "2s", file: `tick = "3m"`,
			flagV: 100 * time.Millisecond, envV: 2 * time.Second, fileV: 3 * time.Minute, defV: time.Minute,
			get: func(s Settings) any { return s.Tick }},
		{key: KeyPruneDeadAfter, flag: "--prune-dead-after=0", env: "1h", file: `prune_dead_after = "48h"`,
			flagV: time.Duration(0), envV: time.Hour, fileV: 48 * time.Hour, defV: 24 * time.Hour,
			get: func(s Settings) any { return s.PruneDeadAfter }},
		{key: KeyLeaseTTL, flag: "--lease-ttl=30s", env: "1m", file: `lease_ttl = "90s"`,
			flagV: 30 * time.Second, envV: time.Minute, fileV: 90 * time.Second, defV: 10 * time.Minute,
			get: func(s Settings) any { return s.LeaseTTL }},
		{key: KeyMaxLeases, flag: "--max-leases=4", env: "3", file: `max_leases = 2`,
			flagV: 4, envV: 3, fileV: 2, defV: 1,
			get: func(s Settings) any { return s.MaxLeases }},
		{key: KeyLogLevel, flag: "--log-level=debug", env: "WARN", file: `log_level = "error"`,
			flagV: "debug", envV: "warn", fileV: "error", defV: "info",
			get: func(s Settings) any { return s.LogLevel }},
		{key: KeyLogFormat, flag: "--log-format=json", env: "text", file: `log_format = "json"`,
			flagV: "json", envV: "text", fileV: "json", defV: "text",
			get: func(s Settings) any { return s.LogFormat }},
		{key: KeyStrategies, flag: "--strategy=openai=random", env: "openai=least_used", file: "[strategies]\nopenai = \"round_robin\"",
			flagV: "random", envV: "least_used", fileV: "round_robin", defV: nil,
			get: func(s Settings) any {
				if v, ok := s.Strategies["openai"]; ok {
					return v
				}
				return nil
			}},
	}
	layers := []struct {
		name                        string
		withFlag, withEnv, withFile bool
	}{
		{"default", false, false, false},
		{"file", false, false, true},
		{"env over file", false, true, true},
		{"env", false, true, false},
		{"flag over env and file", true, true, true},
		{"flag over file", true, false, true},
		{"flag", true, false, false},
	}
	for _, st := range settings {
		for _, ly := range layers {
			t.Run(st.key+"/"+ly.name, func(t *testing.T) {
				env := map[string]string{"HOME": home}
				var args []string
				cfg := writeFile(t, filepath.Join(t.TempDir(), "config.toml"), "")
				if ly.withFile {
					writeFile(t, cfg, st.file+"\n")
				}
				args = append(args, "--config", cfg)
				if ly.withEnv {
					name := "CREDPOOL_" + strings.ToUpper(st.key)
					if st.key == KeyStrategies {
						name = "CREDPOOL_STRATEGY"
					}
					env[name] = st.env
				}
				if ly.withFlag {
					args = append(args, st.flag)
				}

				s, err := load(t, args, env)
				require.NoError(t, err)

				want, source := st.defV, SourceDefault
				switch {
				case ly.withFlag:
					want, source = st.flagV, SourceFlag
				case ly.withEnv:
					want, source = st.envV, "env CREDPOOL_"+strings.ToUpper(st.key)
					if st.key == KeyStrategies {
						source = "env CREDPOOL_STRATEGY"
					}
				case ly.withFile:
					want, source = st.fileV, "config "+cfg
				}
				assert.Equal(t, want, st.get(s))
				if st.key == KeyStrategies {
					if source != SourceDefault {
						assert.Equal(t, source, s.Sources["strategies.openai"])
					}
				} else {
					assert.Equal(t, source, s.Sources[st.key])
				}
				assert.Equal(t, cfg, s.ConfigFile)
				assert.Equal(t, SourceFlag, s.Sources[KeyConfig])
			})
		}
	}
}

func TestNewSettings(t *testing.T) {
	env := isolatedEnv(t)
	cfg := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), `
max_file_size = "1MiB"
quota_threshold = 0.9
gateway = "127.0.0.1:8484"
external_logins = "codex_cli, claude_code"
[upstreams]
openai = "https://proxy.example/v1"
[token_urls]
anthropic = "http://127.0.0.1:9/token"
`)
	env["CREDPOOL_UPSTREAM"] = "openrouter=https://or.example/api/v1"
	s, err := load(t, []string{"--config", cfg, "--refresh-external=claude_code", "--long-wait=2m"}, env)
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), s.MaxFileSize)
	assert.Equal(t, 0.9, s.QuotaThreshold)
	assert.Equal(t, "127.0.0.1:8484", s.Gateway)
	assert.Equal(t, []string{"codex_cli", "claude_code"}, s.ExternalLogins)
	assert.Equal(t, []string{"claude_code"}, s.RefreshExternal)
	assert.Equal(t, 2*time.Minute, s.LongWait)
	assert.Equal(t, 120*time.Second, s.RefreshHorizon)
	assert.Equal(t, map[string]string{"openai": "https://proxy.example/v1", "openrouter": "https://or.example/api/v1"}, s.Upstreams)
	assert.Equal(t, map[string]string{"anthropic": "http://127.0.0.1:9/token"}, s.TokenURLs)
	assert.Equal(t, "env CREDPOOL_UPSTREAM", s.Sources["upstreams.openrouter"])

	d, err := load(t, nil, isolatedEnv(t))
	require.NoError(t, err)
	assert.Equal(t, int64(64<<20), d.MaxFileSize)
	assert.Equal(t, ExternalSources, d.ExternalLogins, "every tool's login is followed by default")
	assert.Empty(t, d.RefreshExternal, "their owners refresh them by default")
	assert.Empty(t, d.Gateway, "the gateway is off by default")
}

func TestFlagWithDefaultValueCountsAsFlag(t *testing.T) {
	s, err := load(t, []string{"--tick=60s"}, isolatedEnv(t))
	require.NoError(t, err)
	assert.Equal(t, SourceFlag, s.Sources[KeyTick])
	assert.Equal(t, SourceDefault, s.Sources[KeyLeaseTTL])
}

func TestStrategiesMerge(t *testing.T) {
	env := isolatedEnv(t)
	cfg := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), `
[strategies]
a = "round_robin"
b = "least_used"
c = "random"
`)
	env["CREDPOOL_STRATEGY"] = " b=random , c=fill_first,,"
	s, err := load(t, []string{"--config", cfg, "--strategy", "c=least_used", "--strategy", "d=random", "--strategy", "d=round_robin"}, env)
	require.NoError(t, err)

	assert.Equal(t, map[string]string{"a": "round_robin", "b": "random", "c": "least_used", "d": "round_robin"}, s.Strategies)
	assert.Equal(t, "config "+cfg, s.Sources["strategies.a"])
	assert.Equal(t, "env CREDPOOL_STRATEGY", s.Sources["strategies.b"])
	assert.Equal(t, SourceFlag, s.Sources["strategies.c"])
	assert.Equal(t, SourceFlag, s.Sources["strategies.d"], "the last repeat of --strategy wins")
	assert.Equal(t, "flag, env CREDPOOL_STRATEGY, config "+cfg, s.Sources[KeyStrategies])
	assert.Equal(t, map[string]pool.Strategy{"a": pool.RoundRobin, "b": pool.Random, "c": pool.LeastUsed, "d": pool.RoundRobin}, s.PoolStrategies())
}

func TestConfigFile(t *testing.T) {
	t.Run("default file is read", func(t *testing.T) {
		env := isolatedEnv(t)
		path := writeFile(t, filepath.Join(env["XDG_CONFIG_HOME"], "credpool", "config.toml"), `
# comment
tick = "5s"
prune_dead_after = 0
lease_ttl = "1h"
`)
		s, err := load(t, nil, env)
		require.NoError(t, err)
		assert.Equal(t, path, s.ConfigFile)
		assert.Equal(t, SourceDefault, s.Sources[KeyConfig])
		assert.Equal(t, 5*time.Second, s.Tick)
		assert.Equal(t, time.Duration(0), s.PruneDeadAfter, "a bare 0 is a duration")
		assert.Equal(t, "config "+path, s.Sources[KeyPruneDeadAfter])
		assert.Equal(t, time.Hour, s.LeaseTTL)
		assert.Equal(t, SourceDefault, s.Sources[KeyMaxLeases])
	})
	t.Run("missing default file is fine", func(t *testing.T) {
		s, err := load(t, nil, isolatedEnv(t))
		require.NoError(t, err)
		assert.Empty(t, s.ConfigFile)
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.toml")
		_, err := load(t, []string{"--config", missing}, isolatedEnv(t))
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), missing)
	})
	t.Run("explicit file with ~", func(t *testing.T) {
		env := isolatedEnv(t)
		writeFile(t, filepath.Join(env["HOME"], "my.toml"), `max_leases = 3`)
		s, err := load(t, []string{"--config=~/my.toml"}, env)
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(env["HOME"], "my.toml"), s.ConfigFile)
		assert.Equal(t, 3, s.MaxLeases)
	})
	t.Run("directory instead of file", func(t *testing.T) {
		env := isolatedEnv(t)
		require.NoError(t, os.MkdirAll(filepath.Join(env["XDG_CONFIG_HOME"], "credpool", "config.toml"), 0o700))
		_, err := load(t, nil, env)
		require.Error(t, err)
	})

	errTests := []struct {
		name, content string
		is            error
		contains      []string
	}{
		{name: "unknown key", content: "tick = \"1s\"\ntickk = \"2s\"\n", is: ErrUnknownKey, contains: []string{"tickk"}},
		{name: "unknown table", content: "[strategy]\nopenai = \"random\"\n", is: ErrUnknownKey, contains: []string{"strategy"}},
		{name: "syntax error", content: "tick = \n", contains: []string{"parse"}},
		{name: "strategy not a string", content: "[strategies]\nopenai = 3\n", contains: []string{"parse", "openai"}},
		{name: "duration without unit", content: "tick = 5\n", is: ErrInvalid, contains: []string{"tick", `"5"`}},
		{name: "bool duration", content: "lease_ttl = true\n", is: ErrInvalid, contains: []string{"lease_ttl", "true"}},
		{name: "float max_leases", content: "max_leases = 1.5\n", is: ErrInvalid, contains: []string{"max_leases", "1.5"}},
		{name: "string max_leases", content: "max_leases = \"many\"\n", is: ErrInvalid, contains: []string{"max_leases", `"many"`}},
		{name: "bad strategy", content: "[strategies]\nopenai = \"fastest\"\n", is: ErrInvalid, contains: []string{"strategies", "openai=fastest"}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "config.toml"), tt.content)
			_, err := load(t, []string{"--config", path}, isolatedEnv(t))
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.Contains(t, err.Error(), path, "the error names the file")
			for _, c := range tt.contains {
				assert.Contains(t, err.Error(), c)
			}
		})
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		key    string
		source string
		value  string
	}{
		{"tick below minimum", []string{"--tick=99ms"}, nil, KeyTick, SourceFlag, "99ms"},
		{"tick not a duration", nil, map[string]string{"CREDPOOL_TICK": "soon"}, KeyTick, "env CREDPOOL_TICK", "soon"},
		{"negative prune", nil, map[string]string{"CREDPOOL_PRUNE_DEAD_AFTER": "-1h"}, KeyPruneDeadAfter, "env CREDPOOL_PRUNE_DEAD_AFTER", "-1h"},
		{"zero lease ttl", []string{"--lease-ttl=0"}, nil, KeyLeaseTTL, SourceFlag, "0"},
		{"zero max leases", nil, map[string]string{"CREDPOOL_MAX_LEASES": "0"}, KeyMaxLeases, "env CREDPOOL_MAX_LEASES", "0"},
		{"max leases not a number", []string{"--max-leases=two"}, nil, KeyMaxLeases, SourceFlag, "two"},
		{"log level", nil, map[string]string{"CREDPOOL_LOG_LEVEL": "verbose"}, KeyLogLevel, "env CREDPOOL_LOG_LEVEL", "verbose"},
		{"log format", []string{"--log-format=xml"}, nil, KeyLogFormat, SourceFlag, "xml"},
		{"strategy name", []string{"--strategy=openai=fastest"}, nil, KeyStrategies, SourceFlag, "openai=fastest"},
		{"strategy without =", nil, map[string]string{"CREDPOOL_STRATEGY": "openai=random,anthropic"}, KeyStrategies, "env CREDPOOL_STRATEGY", "anthropic"},
		{"strategy without provider", []string{"--strategy==random"}, nil, KeyStrategies, SourceFlag, "=random"},
		{"empty auth file flag", []string{"--auth-file="}, nil, KeyAuthFile, SourceFlag, ""},
		{"file size not a size", []string{"--max-file-size=huge"}, nil, KeyMaxFileSize, SourceFlag, "huge"},
		{"file size too small", nil, map[string]string{"CREDPOOL_MAX_FILE_SIZE": "100"}, KeyMaxFileSize, "env CREDPOOL_MAX_FILE_SIZE", "100"},
		{"file size over what authfile parses", []string{"--max-file-size=2GiB"}, nil, KeyMaxFileSize, SourceFlag, "2GiB"},
		{"threshold above 1", []string{"--quota-threshold=1.5"}, nil, KeyQuotaThreshold, SourceFlag, "1.5"},
		{"zero long wait", []string{"--long-wait=0"}, nil, KeyLongWait, SourceFlag, "0"},
		{"gateway on every interface", []string{"--gateway=0.0.0.0:8484"}, nil, KeyGateway, SourceFlag, "0.0.0.0:8484"},
		{"gateway on a LAN name", nil, map[string]string{"CREDPOOL_GATEWAY": "myhost:8484"}, KeyGateway, "env CREDPOOL_GATEWAY", "myhost:8484"},
		{"gateway without port", []string{"--gateway=127.0.0.1"}, nil, KeyGateway, SourceFlag, "127.0.0.1"},
		{"upstream not a URL", []string{"--upstream=openai=api.openai.com"}, nil, KeyUpstreams, SourceFlag, "openai=api.openai.com"},
		{"upstream pool name", []string{"--upstream=../x=https://a.example"}, nil, KeyUpstreams, SourceFlag, "../x=https://a.example"},
		{"token url over plain http", nil, map[string]string{"CREDPOOL_TOKEN_URL": "anthropic=http://evil.example/token"}, KeyTokenURLs, "env CREDPOOL_TOKEN_URL", "anthropic=http://evil.example/token"},
		{"token url of an unknown provider", []string{"--token-url=nobody=https://a.example/t"}, nil, KeyTokenURLs, SourceFlag, "nobody=https://a.example/t"},
		// A URL may carry a password or a key: the error quotes it without them.
		{"token url with user info", []string{"--token-url=anthropic=https://user:SECRET@evil.example/token"}, nil, KeyTokenURLs, SourceFlag, "anthropic=https://…@evil.example/token"},
		{"token url over plain http with a key", nil, map[string]string{"CREDPOOL_TOKEN_URL": "anthropic=http://evil.example/token?key=SECRET"}, KeyTokenURLs, "env CREDPOOL_TOKEN_URL", "anthropic=http://evil.example/token?…"},
		{"upstream without scheme with a key", []string{"--upstream=openai=api.openai.com/v1?key=SECRET"}, nil, KeyUpstreams, SourceFlag, "openai=api.openai.com/v1?…"},
		{"upstream without scheme with user info", []string{"--upstream=openai=user:SECRET@api.openai.com"}, nil, KeyUpstreams, SourceFlag, "openai=…@api.openai.com"},
		// What the gateway would refuse at start (gateway.ParseBase) is refused here.
		{"upstream with user info", []string{"--upstream=openai=https://u:SECRET@api.openai.com/v1"}, nil, KeyUpstreams, SourceFlag, "openai=https://…@api.openai.com/v1"},
		{"upstream with a query", nil, map[string]string{"CREDPOOL_UPSTREAM": "openai=https://api.openai.com/v1?key=SECRET"}, KeyUpstreams, "env CREDPOOL_UPSTREAM", "openai=https://api.openai.com/v1?…"},
		{"upstream with a fragment", []string{"--upstream=openai=https://api.openai.com/v1#x"}, nil, KeyUpstreams, SourceFlag, "openai=https://api.openai.com/v1#…"},
		{"gateway on a mapped non-loopback", []string{"--gateway=[::ffff:10.0.0.1]:8484"}, nil, KeyGateway, SourceFlag, "[::ffff:10.0.0.1]:8484"},
		{"upstream without a pool", []string{"--upstream=https://user:SECRET@api.openai.com"}, nil, KeyUpstreams, SourceFlag, "https://…@api.openai.com"},
		{"unknown external source", []string{"--external-logins=codex_cli,vscode"}, nil, KeyExternalLogins, SourceFlag, "codex_cli,vscode"},
		{"~ without HOME", []string{"--socket=~/s.sock"}, map[string]string{"HOME": ""}, KeySocket, SourceFlag, "~/s.sock"},
		{"explicit config ~ without HOME", []string{"--config=~/c.toml"}, map[string]string{"HOME": ""}, KeyConfig, SourceFlag, "~/c.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := isolatedEnv(t)
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := load(t, tt.args, env)
			var se *SettingError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, tt.key, se.Key)
			assert.Equal(t, tt.source, se.Source)
			assert.Equal(t, tt.value, se.Value)
			assert.NotEmpty(t, se.Reason)
			for _, part := range []string{tt.key, tt.source, strconv.Quote(tt.value)} {
				assert.Contains(t, err.Error(), part)
			}
			assert.NotContains(t, err.Error(), "SECRET")
			if tt.value != "" {
				assert.NotContains(t, se.Reason, strconv.Quote(tt.value), "the value is quoted once")
			}
		})
	}
}

func TestQuotable(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example/v1":                           "https://api.example/v1",
		"openai=https://api.example/v1":                    "openai=https://api.example/v1",
		"openai=https://u:SECRET@api.example/v1":           "openai=https://…@api.example/v1",
		"https://u:SEC@RET@api.example/v1?k=SECRET#SECRET": "https://…@api.example/v1?…",
		"https://api.example/v1#SECRET":                    "https://api.example/v1#…",
		"https://u:SEC/RET@api.example/v1":                 "https://…@api.example/v1",
		"[https://a.example/x https://u:SECRET@b.example]": "[https://…@b.example]", // cut too much rather than too little
		"[https://a.example/?k=SECRET https://b.example]":  "[https://a.example/?…",
		"u:SECRET@host":                                    "…@host",
		"p=host?SECRET":                                    "p=host?…",
		"no url here":                                      "no url here",
	} {
		got := quotable(in)
		assert.Equal(t, want, got, in)
		assert.NotContains(t, got, "SECRET", in)
	}
}

// TestBadTableValueInFileIsQuotedWithoutSecrets: a [upstreams] given as a
// string in the file is quoted the same way.
func TestBadTableValueInFileIsQuotedWithoutSecrets(t *testing.T) {
	env := isolatedEnv(t)
	cfg := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), `upstreams = "https://u:SECRET@api.example/v1?key=SECRET"`+"\n")
	_, err := load(t, []string{"--config", cfg}, env)
	var se *SettingError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "https://…@api.example/v1?…", se.Value)
	assert.NotContains(t, err.Error(), "SECRET")
}

// TestMaxFileSizeBounds: the default is authfile's, and the largest size
// taken is the largest auth.json authfile parses.
func TestMaxFileSizeBounds(t *testing.T) {
	s, err := load(t, nil, isolatedEnv(t))
	require.NoError(t, err)
	assert.Equal(t, int64(authfile.DefaultMaxSize), s.MaxFileSize)
	s, err = load(t, []string{"--max-file-size=2147483647"}, isolatedEnv(t))
	require.NoError(t, err)
	assert.Equal(t, int64(authfile.MaxSizeLimit), s.MaxFileSize)
	_, err = load(t, []string{"--max-file-size=2147483648"}, isolatedEnv(t))
	assert.ErrorIs(t, err, ErrInvalid)
}
