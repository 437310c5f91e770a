package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/internal/golden"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

// fixtureNow is ten minutes after the fixture's 402 on backup-key.
var fixtureNow = time.Unix(1780317600, 0)

func fixtureViews(t *testing.T, now time.Time) []apitype.Pool {
	raw, err := os.ReadFile("testdata/auth.json")
	require.NoError(t, err)
	f, err := authfile.Parse(raw)
	require.NoError(t, err)
	p := pool.New(pool.Config{Now: func() time.Time { return now }, PruneDeadAfter: 24 * time.Hour * 400})
	p.Load(f.Snapshot())
	return apitype.PoolsFrom(p.Views()).Pools
}

func TestRenderStatusGolden(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, fixtureViews(t, fixtureNow), fixtureNow)
	golden.Assert(t, "status.golden", b.Bytes())
}

func TestEntryState(t *testing.T) {
	now := fixtureNow
	at := func(d time.Duration) *float64 { v := float64(now.Add(d).Unix()); return &v }
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	hint := str("abcd")
	tests := []struct {
		name string
		in   apitype.Entry
		want string
	}{
		{"ok", apitype.Entry{Status: "ok", Available: true, TokenHint: hint}, "ok"},
		{"cooling", apitype.Entry{Status: "exhausted", LastErrorCode: num(429), LastErrorReason: str("rate_limit_exceeded"), Until: at(41*time.Minute + 30*time.Second), TokenHint: hint},
			"exhausted 429 rate_limit_exceeded, 41m left"},
		{"dead with prune", apitype.Entry{Status: "dead", LastErrorCode: num(401), LastErrorReason: str("token_invalidated"), LastStatusAt: at(-3 * time.Hour), PruneAt: at(21 * time.Hour), TokenHint: hint},
			"dead token_invalidated, 3h ago, pruned in 21h"},
		{"dead past prune", apitype.Entry{Status: "dead", LastErrorReason: str("invalid_grant"), LastStatusAt: at(-30 * time.Hour), PruneAt: at(-6 * time.Hour), TokenHint: hint},
			"dead invalid_grant, 30h ago, pruned on the next tick"},
		{"dead never pruned", apitype.Entry{Status: "dead", LastErrorCode: num(401), LastStatusAt: at(-72 * time.Hour), TokenHint: hint},
			"dead 401, 3d ago"},
		{"tokenless", apitype.Entry{Status: "ok"}, "ok (no token on disk: not handed out)"},
		// Issue 9 #15: far dates are durations, not overflows.
		{"cooling to the year 3000", apitype.Entry{Status: "exhausted", LastErrorCode: num(429), Until: ptrF(32503680000), TokenHint: hint},
			"exhausted 429, 974y left"},
		{"cooling to 9999", apitype.Entry{Status: "exhausted", LastErrorCode: num(429), Until: ptrF(253402300799), TokenHint: hint},
			"exhausted 429, 7978y left"},
		// Issue 10: the OAuth part of the state.
		{"oauth expiring", apitype.Entry{Status: "ok", Available: true, TokenHint: hint, ExpiresAt: at(41*time.Minute + 10*time.Second)},
			"ok, expires in 41m"},
		{"oauth expired, refresh in flight", apitype.Entry{Status: "ok", TokenHint: hint, ExpiresAt: at(-3 * time.Minute), Refreshing: true},
			"ok, refreshing, expired 3m ago"},
		{"last refresh failed", apitype.Entry{Status: "ok", Available: true, TokenHint: hint, RefreshError: str("server_error"), ExpiresAt: at(90 * time.Second)},
			"ok, last refresh failed: server_error, expires in 1m"},
		{"dead shows no expiry", apitype.Entry{Status: "dead", LastErrorReason: str("invalid_grant"), TokenHint: hint, ExpiresAt: at(time.Hour), External: true},
			"dead invalid_grant"},
		{"broken external login", apitype.Entry{Status: "ok", External: true, Source: "claude_code", LoginBroken: str("the file holds no tokens (logged out?)")},
			"ok, login broken: the file holds no tokens (logged out?)"},
		{"stamped 5 years ahead", apitype.Entry{Status: "dead", LastErrorCode: num(401), LastStatusAt: at(5 * 365 * 24 * time.Hour), TokenHint: hint},
			"dead 401, stamped 5y in the future"},
		{"model cooldowns", apitype.Entry{Status: "ok", Available: true, TokenHint: hint, ModelCooldowns: map[string]float64{"claude-b": *at(90 * time.Minute), "claude-a": *at(time.Minute)}},
			"ok, claude-a benched 1m, claude-b benched 1h"},
		{"quota: the window that binds", apitype.Entry{Status: "ok", Available: true, TokenHint: hint, Quota: []apitype.QuotaWindow{
			{Key: "openai/tokens", Left: ptrF(0.8), ResetAt: *at(10 * time.Second)},
			{Key: "openai/requests", Left: ptrF(0.29), ResetAt: *at(4*time.Minute + 10*time.Second), Tightest: true},
		}}, "ok, openai/requests 29% left, resets in 4m"},
		{"quota: out of budget", apitype.Entry{Status: "ok", TokenHint: hint, QuotaUntil: at(90 * time.Second), Quota: []apitype.QuotaWindow{
			{Key: "openai/requests", Left: ptrF(0.5), ResetAt: *at(time.Minute)},
			{Key: "codex_bengalfox/primary", Model: str("gpt-5.3-codex-spark"), Left: ptrF(0), ResetAt: *at(90 * time.Second), Blocking: true, Tightest: true},
		}}, "ok, out of budget until reset in 1m: codex_bengalfox/primary (gpt-5.3-codex-spark)"},
		{"quota that tells no fraction says nothing", apitype.Entry{Status: "ok", Available: true, TokenHint: hint, Quota: []apitype.QuotaWindow{
			{Key: "anthropic-unified/status", ResetAt: *at(time.Hour)}}}, "ok"},
		{"unreadable", apitype.Entry{Status: "ok", Unreadable: []string{"access_token"}},
			"ok (unreadable access_token in the file: not handed out)"},
		{"a reason that tries to rewrite the line", apitype.Entry{Status: "dead", LastErrorReason: str("x\u202e\n\x1b[2J"), TokenHint: hint},
			`dead x\u202e\u000a\u001b[2J`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, entryState(tc.in, now))
		})
	}
}

func ptrF(f float64) *float64 { return &f }

// TestStatusShowsQuota: what a report's headers said reaches the STATE
// column through the pool's view and the wire types.
func TestStatusShowsQuota(t *testing.T) {
	now := fixtureNow
	p := pool.New(pool.Config{Now: func() time.Time { return now }})
	p.Load(pool.Snapshot{Pools: map[string][]pool.Entry{"openai": {
		{ID: "aaaaaa", Label: "main", AuthType: "api_key", Source: "manual", AccessToken: "sk-SECRET-status-a"},
		{ID: "bbbbbb", Label: "spare", AuthType: "api_key", Priority: 1, Source: "manual", AccessToken: "sk-SECRET-status-b"},
	}}})
	for id, remaining := range map[string]string{"aaaaaa": "0", "bbbbbb": "60"} {
		_, err := p.Report("openai", pool.Report{CredentialID: id, StatusCode: 200, Headers: map[string]string{
			"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": remaining, "x-ratelimit-reset-requests": "4m30s"}})
		require.NoError(t, err)
	}
	var b bytes.Buffer
	renderStatus(&b, apitype.PoolsFrom(p.Views()).Pools, now)
	out := b.String()
	assert.Contains(t, out, "(fill_first, 1 of 2 available)")
	assert.Contains(t, lineOf(out, "main"), "ok, out of budget until reset in 4m: openai/requests")
	assert.Contains(t, lineOf(out, "spare"), "ok, openai/requests 12% left, resets in 4m")
	assert.NotContains(t, out, "SECRET")
}

func lineOf(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

type run struct {
	stdout, stderr bytes.Buffer
	code           int
}

func runCLI(t *testing.T, stdin string, env map[string]string, args ...string) *run {
	t.Helper()
	r := &run{}
	r.code = Main(args, Env{
		Stdin: strings.NewReader(stdin), Stdout: &r.stdout, Stderr: &r.stderr,
		Getenv: func(k string) string { return env[k] },
	})
	return r
}

func testEnv(t *testing.T) (map[string]string, string) {
	dir := testio.ShortTempDir(t)
	auth := filepath.Join(dir, "auth.json")
	return map[string]string{
		"HOME": dir, "CREDPOOL_AUTH_FILE": auth,
		"CREDPOOL_SOCKET": filepath.Join(dir, "none", "credpool.sock"),
	}, auth
}

func TestExitCodes(t *testing.T) {
	env, _ := testEnv(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"no command", "", nil, ExitUsage, ""},
		{"unknown command", "", []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"select without provider", "", []string{"select"}, ExitUsage, "exactly one PROVIDER"},
		{"select without daemon", "", []string{"select", "openrouter"}, ExitUnreachable, "credpool daemon"},
		{"report without status", "", []string{"report", "openrouter", "--id", "x"}, ExitUsage, "--status"},
		{"add without secret", "", []string{"add", "openrouter"}, ExitUsage, "no secret given"},
		{"add bad type", "sk-x\n", []string{"add", "openrouter", "--type", "magic"}, ExitUsage, "api_key or oauth"},
		{"remove unknown pool", "", []string{"remove", "nope", "1"}, ExitError, "unknown pool"},
		{"version", "", []string{"version"}, ExitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.stdin, env, tc.args...)
			assert.Equal(t, tc.code, r.code, "stderr: %s", r.stderr.String())
			assert.Contains(t, r.stderr.String(), tc.msg)
		})
	}
}

func TestAdminCommandsWithoutDaemon(t *testing.T) {
	env, auth := testEnv(t)
	const secret = "sk-or-v1-cli-test-secret-0001"

	r := runCLI(t, secret+"\n", env, "add", "openrouter", "--label", "main", "--base-url", "https://openrouter.ai/api/v1")
	require.Equal(t, ExitOK, r.code, r.stderr.String())
	assert.Contains(t, r.stdout.String(), `"main"`)
	assert.NotContains(t, r.stdout.String()+r.stderr.String(), secret, "the secret is never echoed")

	r = runCLI(t, "sk-or-v1-cli-test-secret-0002\n", env, "add", "openrouter", "--label", "spare")
	require.Equal(t, ExitOK, r.code, r.stderr.String())

	f, _, err := authfile.NewStore(auth).Read()
	require.NoError(t, err)
	require.Len(t, f.Pools["openrouter"], 2)
	assert.Equal(t, secret, f.Pools["openrouter"][0].AccessToken)
	assert.Equal(t, "manual", f.Pools["openrouter"][0].Source)
	assert.Equal(t, 1, f.Pools["openrouter"][1].Priority)
	fi, err := os.Stat(auth)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Mark one DEAD on disk as another process would, then reset it.
	_, err = authfile.NewStore(auth).Update(t.Context(), func(f *authfile.File) error {
		e := &f.Pools["openrouter"][1]
		e.LastStatus, e.LastStatusAt, e.LastErrorCode, e.LastErrorReason = pool.StatusDead, 1780317000, 401, "token_revoked"
		return nil
	})
	require.NoError(t, err)
	r = runCLI(t, "", env, "reset", "openrouter", "spare")
	require.Equal(t, ExitOK, r.code, r.stderr.String())
	assert.Contains(t, r.stdout.String(), "reset 1 entry")

	r = runCLI(t, "", env, "status", "openrouter")
	require.Equal(t, ExitOK, r.code, r.stderr.String())
	assert.Contains(t, r.stderr.String(), "daemon is not running")
	assert.NotContains(t, r.stdout.String(), "dead")
	assert.Contains(t, r.stdout.String(), "2 of 2 available")

	r = runCLI(t, "", env, "remove", "openrouter", "1")
	require.Equal(t, ExitOK, r.code, r.stderr.String())
	f, _, err = authfile.NewStore(auth).Read()
	require.NoError(t, err)
	require.Len(t, f.Pools["openrouter"], 1)
	assert.Equal(t, "spare", f.Pools["openrouter"][0].Label)
}

func TestHumanSeconds(t *testing.T) {
	tests := map[float64]string{
		-1: "0s", 45: "45s", 41*60 + 59: "41m", 3 * 3600: "3h", 47 * 3600: "47h", 72 * 3600: "3d",
		3 * 365 * 86400: "3y", 1e12: "31709y",
	}
	for sec, want := range tests {
		assert.Equal(t, want, humanSeconds(sec), "%v", sec)
	}
}
