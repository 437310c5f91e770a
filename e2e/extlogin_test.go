package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/gateway/gatewaytest"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/oauth/oauthtest"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/tokeninfo"
)

// Logins made with other tools, against the real binary: the real Codex CLI
// writes $CODEX_HOME/auth.json, and test writers write the files the way
// the Codex CLI (in place, truncate and rewrite) and Claude Code (temp file
// and rename) do. The daemon follows them in its own environment (HOME,
// CODEX_HOME, CLAUDE_CONFIG_DIR), never writes them, and keeps none of their
// secrets in auth.json, its log, its events, its metrics or any answer but
// a select's.

// emptyAuth is a Hermes auth.json with no credentials yet.
var emptyAuth = []byte(`{"version": 1, "providers": {}, "credential_pool": {}}`)

// toolHome is where the other tools keep their logins for one daemon.
type toolHome struct {
	home, codex, claude string
}

func (th toolHome) codexFile() string  { return filepath.Join(th.codex, "auth.json") }
func (th toolHome) claudeFile() string { return filepath.Join(th.claude, ".credentials.json") }

// newToolHome makes the tools' directories (the Codex CLI wants CODEX_HOME
// to exist) in a fresh HOME.
func newToolHome(t testing.TB) (string, toolHome) {
	t.Helper()
	dir := testio.ShortTempDir(t)
	th := toolHome{home: filepath.Join(dir, "home"), codex: filepath.Join(dir, "codex-home"), claude: filepath.Join(dir, "claude-config")}
	for _, d := range []string{th.home, th.codex, th.claude} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	return dir, th
}

// startFollowing starts the daemon in th's environment, logging at debug,
// with the fake as every token endpoint (nothing should reach it: the
// tools refresh their own logins).
func startFollowing(t testing.TB, dir string, th toolHome, fake *oauthtest.Server, args ...string) *harness {
	t.Helper()
	opts := daemontest.Options{Dir: dir, Args: append([]string{"--log-level", "debug"}, args...), Env: []string{
		"HOME=" + th.home, "CODEX_HOME=" + th.codex, "CLAUDE_CONFIG_DIR=" + th.claude,
		"QWEN_HOME=", "GEMINI_CLI_HOME=", "CREDPOOL_TOKEN_URL=" + fake.OverrideString(),
	}}
	return start(t, emptyAuth, opts)
}

// external is the entry of provider with source, or nil.
func (h *harness) external(provider, source string) *apitype.Entry {
	h.t.Helper()
	pools, err := h.Client.Pools(bg)
	require.NoError(h.t, err)
	for _, p := range pools {
		if p.Provider != provider {
			continue
		}
		for _, e := range p.Entries {
			if e.Source == source {
				return &e
			}
		}
	}
	return nil
}

// waitSelects waits until a select of provider hands out token.
func (h *harness) waitSelects(provider, token, what string) {
	h.t.Helper()
	daemontest.Eventually(h.t, what, func() bool {
		sel, err := h.Client.Select(bg, provider, apitype.SelectRequest{})
		return err == nil && sel.Credential.AccessToken == token
	})
}

// codexCLI runs the real Codex CLI in th.
func codexCLI(t testing.TB, th toolHome, stdin string, args ...string) {
	t.Helper()
	if err := gatewaytest.CodexReady(); err != nil {
		t.Skip(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewaytest.CodexBin(), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + th.home, "CODEX_HOME=" + th.codex}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "codex %s: %s", strings.Join(args, " "), out.String())
}

// chatGPTLogin is a Codex CLI ChatGPT login as the tool writes it.
type chatGPTLogin struct{ access, refresh, id string }

func newChatGPTLogin(t testing.TB, fake *oauthtest.Server) chatGPTLogin {
	tok := fake.Issue(codexPool)
	email := base64.RawURLEncoding.EncodeToString([]byte(`{"email":"dev@example.com","exp":` + fmt.Sprint(time.Now().Add(time.Hour).Unix()) + `}`))
	return chatGPTLogin{access: tok.AccessToken, refresh: tok.RefreshToken, id: "eyJhbGciOiJub25lIn0." + email + ".id-" + daemontest.SecretMark + "-" + randHex(t)}
}

func (l chatGPTLogin) file(t testing.TB) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{
		"auth_mode": "chatgpt", "OPENAI_API_KEY": nil,
		"tokens":       map[string]any{"id_token": l.id, "access_token": l.access, "refresh_token": l.refresh, "account_id": "acct-e2e"},
		"last_refresh": time.Now().UTC().Format(time.RFC3339Nano),
	}, "", "  ")
	require.NoError(t, err)
	return b
}

// inPlace rewrites path the way codex-rs' file storage did: open with
// truncate and write, no rename, so a reader can see a partial file. It
// returns a function that writes the rest; with split < len(data) the
// file holds only data[:split] until then.
func inPlace(t testing.TB, path string, data []byte, split int) (finish func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	_, err = f.Write(data[:split])
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	return func() {
		t.Helper()
		_, err := f.Write(data[split:])
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

// rewrite is inPlace all at once.
func rewrite(t testing.TB, path string, data []byte) { inPlace(t, path, data, len(data))() }

// The real Codex CLI logs in with an API key, and the daemon (with that
// CODEX_HOME) follows it; then ChatGPT logins written in place, one of
// them seen half-written; a DEAD login and one cooling from a 401 come
// back when the tool logs in again.
func TestCodexCLILoginIsFollowed(t *testing.T) {
	t.Parallel()
	fake := oauthtest.New(t)
	dir, th := newToolHome(t)
	h := startFollowing(t, dir, th, fake)
	f := h.follow()

	key := "sk-proj-" + daemontest.SecretMark + "-codexcli-" + randHex(t)
	codexCLI(t, th, key, "login", "--with-api-key")
	raw, err := os.ReadFile(th.codexFile())
	require.NoError(t, err, "codex login wrote $CODEX_HOME/auth.json")
	require.Contains(t, string(raw), key, "in its own format")
	h.waitSelects("openai", key, "the Codex CLI's API key handed out")
	e := h.external("openai", "codex_cli")
	require.NotNil(t, e)
	assert.True(t, e.External)
	assert.Equal(t, "api_key", e.AuthType)

	// A ChatGPT login, written in place: the API-key login is gone from
	// the file, so its entry is no longer handed out.
	a := newChatGPTLogin(t, fake)
	rewrite(t, th.codexFile(), a.file(t))
	h.waitSelects(codexPool, a.access, "the ChatGPT login handed out")
	daemontest.Eventually(t, "the API-key login no longer handed out", func() bool {
		_, err := h.Client.Select(bg, "openai", apitype.SelectRequest{})
		return err != nil
	})

	// A re-login seen half-written keeps the last good login; the
	// complete file brings the new one.
	b := newChatGPTLogin(t, fake)
	data := b.file(t)
	const partial = "cannot be read now; keeping the last login"
	seen := strings.Count(h.Stderr.String(), partial)
	finish := inPlace(t, th.codexFile(), data, len(data)/2)
	daemontest.Eventually(t, "the daemon meets the partial file", func() bool {
		return strings.Count(h.Stderr.String(), partial) > seen
	})
	sel, err := h.Client.Select(bg, codexPool, apitype.SelectRequest{})
	require.NoError(t, err)
	assertToken(t, a.access, sel.Credential.AccessToken, "the last good login while the file is partial")
	finish()
	h.waitSelects(codexPool, b.access, "the completed login handed out")

	// DEAD by a terminal 401, back by a re-login with the tool.
	id := h.external(codexPool, "codex_cli").ID
	rep, err := h.Client.Report(bg, codexPool, apitype.ReportRequest{CredentialID: id, StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	require.Equal(t, "dead", rep.Marked.Status)
	c := newChatGPTLogin(t, fake)
	rewrite(t, th.codexFile(), c.file(t))
	f.wait(t, "entry.recovered", id)
	h.waitSelects(codexPool, c.access, "the re-login recovers the DEAD entry")

	// Cooling from a plain 401, back by a re-login.
	rep, err = h.Client.Report(bg, codexPool, apitype.ReportRequest{CredentialID: id, StatusCode: 401})
	require.NoError(t, err)
	require.Equal(t, "exhausted", rep.Marked.Status)
	_, err = h.Client.Select(bg, codexPool, apitype.SelectRequest{})
	require.ErrorIs(t, err, pool.ErrNoneAvailable)
	d := newChatGPTLogin(t, fake)
	last := d.file(t)
	rewrite(t, th.codexFile(), last)
	h.waitSelects(codexPool, d.access, "the re-login ends the 401 cooldown")

	raw, err = os.ReadFile(th.codexFile())
	require.NoError(t, err)
	assert.Equal(t, last, raw, "the daemon never wrote the tool's file")

	// An API-key login again, then codex logout: each entry follows
	// where the tool's login is.
	key2 := "sk-proj-" + daemontest.SecretMark + "-codexcli-" + randHex(t)
	codexCLI(t, th, key2, "login", "--with-api-key")
	h.waitSelects("openai", key2, "the new API key handed out")
	_, err = h.Client.Select(bg, codexPool, apitype.SelectRequest{})
	assert.ErrorIs(t, err, pool.ErrNoneAvailable, "the ChatGPT login is gone from the file")
	codexCLI(t, th, "", "logout")
	daemontest.Eventually(t, "the logged-out API key no longer handed out", func() bool {
		_, err := h.Client.Select(bg, "openai", apitype.SelectRequest{})
		return err != nil
	})
	assert.Equal(t, "logged out", apitype.Value(h.external("openai", "codex_cli").LoginBroken))

	assert.Zero(t, fake.TotalPosts(), "the Codex CLI refreshes its own login")
	secretsStayOut(t, h, key, key2, a.access, b.access, c.access, d.access)
}

// claudeFile is Claude Code's .credentials.json for a login.
func claudeFile(t testing.TB, access, refresh string, expiresAtMS int64) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken": access, "refreshToken": refresh, "expiresAt": expiresAtMS,
		"scopes": []string{"user:inference", "user:profile"}, "subscriptionType": "max",
	}})
	require.NoError(t, err)
	return b
}

// claudeWrite writes the way Claude Code does: a temp file in the same
// directory, renamed over the target (which replaces a symlink there).
func claudeWrite(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := fmt.Sprintf("%s.tmp.%d.%d", path, os.Getpid(), time.Now().UnixNano())
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// Claude Code's login, followed through its writes: a symlinked file
// replaced by a rename, blanked tokens from an instance that lost a
// refresh race (shown broken, never handed out), and a re-login.
func TestClaudeCodeLoginIsFollowed(t *testing.T) {
	t.Parallel()
	fake := oauthtest.New(t)
	dir, th := newToolHome(t)
	// The credentials file starts as a symlink to a file elsewhere.
	elsewhere := filepath.Join(dir, "dotfiles", "claude-credentials.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(elsewhere), 0o700))
	hour := time.Now().Add(time.Hour).UnixMilli()
	a := fake.Issue("anthropic")
	first := claudeFile(t, a.AccessToken, a.RefreshToken, hour)
	require.NoError(t, os.WriteFile(elsewhere, first, 0o600))
	require.NoError(t, os.Symlink(elsewhere, th.claudeFile()))

	h := startFollowing(t, dir, th, fake)
	f := h.follow()
	h.waitSelects("anthropic", a.AccessToken, "the login behind the symlink handed out")
	e := h.external("anthropic", "claude_code")
	require.NotNil(t, e)
	id := e.ID
	assert.True(t, e.External)
	require.NotNil(t, e.ExpiresAt)
	assert.InDelta(t, float64(hour)/1000, *e.ExpiresAt, 1, "expiresAt (ms) is the expiry")

	// Claude Code refreshes: temp file and rename, the symlink replaced.
	b := fake.Issue("anthropic")
	claudeWrite(t, th.claudeFile(), claudeFile(t, b.AccessToken, b.RefreshToken, hour))
	h.waitSelects("anthropic", b.AccessToken, "the renamed-in login handed out")
	fi, err := os.Lstat(th.claudeFile())
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the rename replaced the symlink")
	left, err := os.ReadFile(elsewhere)
	require.NoError(t, err)
	assert.Equal(t, first, left, "nobody wrote through the old symlink")

	// An instance that lost a refresh race blanks the tokens.
	claudeWrite(t, th.claudeFile(), claudeFile(t, "", "", 0))
	daemontest.Eventually(t, "the login shown broken", func() bool {
		e := h.external("anthropic", "claude_code")
		return e != nil && e.LoginBroken != nil
	})
	_, err = h.Client.Select(bg, "anthropic", apitype.SelectRequest{})
	assert.ErrorIs(t, err, pool.ErrNoneAvailable, "blanked tokens are never handed out")
	st := h.credpool("", "status", "anthropic")
	assert.Contains(t, lineWith(st.stdout, id), "login broken", st.stdout)

	// A real re-login brings it back, on the same entry.
	c := fake.Issue("anthropic")
	claudeWrite(t, th.claudeFile(), claudeFile(t, c.AccessToken, c.RefreshToken, hour))
	h.waitSelects("anthropic", c.AccessToken, "the re-login handed out")
	e = h.external("anthropic", "claude_code")
	assert.Equal(t, id, e.ID)
	assert.Nil(t, e.LoginBroken)
	_, died := f.find("entry.dead", id)
	assert.False(t, died)

	assert.Zero(t, fake.TotalPosts(), "Claude Code refreshes its own login")
	secretsStayOut(t, h, a.AccessToken, a.RefreshToken, b.AccessToken, b.RefreshToken, c.AccessToken, c.RefreshToken)
}

// secretsStayOut checks that no secret of an external login reached
// auth.json (only secret_fingerprint), or any answer but a select's. The
// daemon's log and the events are checked when the test ends.
func secretsStayOut(t *testing.T, h *harness, secrets ...string) {
	t.Helper()
	raw, err := os.ReadFile(h.AuthFile)
	require.NoError(t, err)
	daemontest.NoSecret(t, "auth.json", string(raw))
	doc := decode(t, raw)
	pools, _ := doc["credential_pool"].(map[string]any)
	rows := 0
	for provider, list := range pools {
		for _, r := range list.([]any) {
			row := r.(map[string]any)
			if !strings.HasSuffix(str(row["source"]), "_cli") && str(row["source"]) != "claude_code" {
				continue
			}
			rows++
			fp := str(row["secret_fingerprint"])
			assert.Regexp(t, `^sha256:[0-9a-f]{16}$`, fp, "%s row %s keeps only a fingerprint", provider, row["id"])
			found := false
			for _, s := range secrets {
				found = found || tokeninfo.Fingerprint(s) == fp
			}
			assert.True(t, found, "%s row %s: the fingerprint is of one of the logins", provider, row["id"])
			for _, k := range []string{"access_token", "refresh_token"} {
				assert.Empty(t, str(row[k]), "%s row %s holds no %s", provider, row["id"], k)
			}
		}
	}
	assert.NotZero(t, rows, "the logins have rows in auth.json")
	for _, path := range []string{"/v1/health", "/v1/pools", "/v1/pools/openai", "/v1/pools/openai-codex", "/v1/pools/anthropic", "/metrics"} {
		_, b := h.call("GET", path, "")
		daemontest.NoSecret(t, "GET "+path, string(b))
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}} {
		res := h.credpool("", args...)
		daemontest.NoSecret(t, "credpool "+strings.Join(args, " "), res.stdout+res.stderr)
	}
}

// Opting out: external_logins=none follows no tool, a list follows only
// the tools it names.
func TestExternalLoginsOptOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting string
		want    []string // sources that become entries
	}{
		{"none", nil},
		{"claude_code", []string{"claude_code"}},
		{"all", []string{"codex_cli", "claude_code"}},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			t.Parallel()
			fake := oauthtest.New(t)
			dir, th := newToolHome(t)
			key := "sk-proj-" + daemontest.SecretMark + "-" + randHex(t)
			require.NoError(t, os.WriteFile(th.codexFile(), []byte(`{"auth_mode": "apikey", "OPENAI_API_KEY": "`+key+`"}`), 0o600))
			a := fake.Issue("anthropic")
			require.NoError(t, os.WriteFile(th.claudeFile(), claudeFile(t, a.AccessToken, a.RefreshToken, time.Now().Add(time.Hour).UnixMilli()), 0o600))
			h := startFollowing(t, dir, th, fake, "--external-logins", tc.setting)
			if len(tc.want) > 0 {
				daemontest.Eventually(t, "the logins followed", func() bool { return h.health().Entries == len(tc.want) })
			} else {
				// Nothing to wait for: the files are there from the
				// start, and a followed one is read before the first
				// answer after start-up settles; look twice, apart.
				require.Zero(t, h.health().Entries)
				time.Sleep(200 * time.Millisecond)
			}
			var got []string
			pools, err := h.Client.Pools(bg)
			require.NoError(t, err)
			for _, p := range pools {
				for _, e := range p.Entries {
					got = append(got, e.Source)
				}
			}
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

// refresh_external=claude_code: credpool refreshes Claude Code's login
// itself ahead of expiry, writes the new pair back into the tool's file
// (changing only the tokens and the expiry) and records the spent refresh
// token in Hermes' ledger beside it; a refresh token the ledger lists as
// spent is never sent.
func TestRefreshExternalClaudeCode(t *testing.T) {
	t.Parallel()
	for _, spent := range []bool{false, true} {
		t.Run(fmt.Sprintf("ledger lists it: %v", spent), func(t *testing.T) {
			t.Parallel()
			fake := oauthtest.New(t)
			dir, th := newToolHome(t)
			a := fake.Issue("anthropic")
			soon := time.Now().Add(60 * time.Second).UnixMilli()
			file := fmt.Sprintf(`{"claudeAiOauth":{"accessToken":%q,"refreshToken":%q,"expiresAt":%d,"scopes":["user:inference"],"subscriptionType":"max"},"mcpOAuth":{"kept":"as is"}}`,
				a.AccessToken, a.RefreshToken, soon)
			require.NoError(t, os.WriteFile(th.claudeFile(), []byte(file), 0o600))
			ledger := th.claudeFile() + ".hermes-spent-rotations.json"
			if spent {
				require.NoError(t, os.WriteFile(ledger, []byte(`{"version":1,"fingerprints":["`+tokeninfo.Fingerprint(a.RefreshToken)+`"]}`), 0o600))
			}
			// The first answer comes after a moment, so that the events are
			// followed before the refresh at start ends.
			fake.FailNext(oauthtest.Slow(500 * time.Millisecond))
			h := startFollowing(t, dir, th, fake, "--external-logins", "claude_code", "--refresh-external", "claude_code")
			f := h.follow()

			if spent {
				daemontest.Eventually(t, "the login DEAD without a POST", func() bool {
					e := h.external("anthropic", "claude_code")
					return e != nil && e.Status == "dead"
				})
				assert.Equal(t, "refresh_token_reused", apitype.Value(h.external("anthropic", "claude_code").LastErrorReason))
				assert.Zero(t, fake.TotalPosts(), "a spent refresh token is never sent")
				return
			}
			ev := f.wait(t, "entry.refreshed", h.external("anthropic", "claude_code").ID)
			assert.Equal(t, "refresh", ev.Cause)
			b := fake.Issued()[1]
			h.waitSelects("anthropic", b.AccessToken, "the refreshed login handed out")
			assert.Equal(t, 1, fake.Posts(a.RefreshToken))
			daemontest.Eventually(t, "the new pair in Claude Code's file", func() bool {
				raw, err := os.ReadFile(th.claudeFile())
				return err == nil && strings.Contains(string(raw), b.RefreshToken)
			})
			raw, err := os.ReadFile(th.claudeFile())
			require.NoError(t, err)
			var doc struct {
				OAuth struct {
					Access    string   `json:"accessToken"`
					Refresh   string   `json:"refreshToken"`
					ExpiresAt float64  `json:"expiresAt"`
					Scopes    []string `json:"scopes"`
					Sub       string   `json:"subscriptionType"`
				} `json:"claudeAiOauth"`
				MCP map[string]string `json:"mcpOAuth"`
			}
			require.NoError(t, json.Unmarshal(raw, &doc))
			assert.True(t, doc.OAuth.Access == b.AccessToken && doc.OAuth.Refresh == b.RefreshToken, "the new pair")
			assert.Greater(t, doc.OAuth.ExpiresAt, float64(soon), "the new expiry")
			assert.Equal(t, []string{"user:inference"}, doc.OAuth.Scopes)
			assert.Equal(t, "max", doc.OAuth.Sub)
			assert.Equal(t, map[string]string{"kept": "as is"}, doc.MCP, "every other key kept")
			l, err := os.ReadFile(ledger)
			require.NoError(t, err, "the spent refresh token is recorded for Hermes")
			assert.Contains(t, string(l), tokeninfo.Fingerprint(a.RefreshToken))
			secretsStayOut(t, h, a.AccessToken, b.AccessToken)
		})
	}
}
