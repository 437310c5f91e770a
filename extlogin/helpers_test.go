package extlogin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secret is the marker every fake token carries; no error, log line or
// printed Login may contain it.
const secret = "SECRET"

// env is a fake environment for Sources.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// homeSources is the source table for a user whose HOME is home.
func homeSources(home string) []Source { return Sources(env(map[string]string{"HOME": home})) }

func sourceNamed(t testing.TB, srcs []Source, name string) Source {
	t.Helper()
	for _, s := range srcs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no source %s", name)
	return Source{}
}

// ---- writers that do what each tool does ----

// writeRename is how Claude Code and Qwen Code write: a temp file in the
// same directory renamed over the target, which replaces a symlink there.
func writeRename(t testing.TB, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp.*")
	require.NoError(t, err)
	_, err = tmp.Write(data)
	require.NoError(t, err)
	require.NoError(t, tmp.Chmod(0o600))
	require.NoError(t, tmp.Close())
	require.NoError(t, os.Rename(tmp.Name(), path))
}

// writeInPlace is how Gemini CLI (fs.writeFile) and Codex CLIs before the
// atomic rewrite write: truncate, then write. With pause > 0 it writes the
// first half, waits, and writes the rest, as a slow writer would be seen.
func writeInPlace(t testing.TB, path string, data []byte, pause time.Duration) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	defer f.Close()
	half := len(data) / 2
	if pause > 0 {
		_, err = f.Write(data[:half])
		require.NoError(t, err)
		time.Sleep(pause) // the writer's own pause, not a wait for the watcher
		data = data[half:]
	}
	_, err = f.Write(data)
	require.NoError(t, err)
}

// symlinkedClaude is a Claude Code source whose .credentials.json is a
// symlink to a file elsewhere (a dotfiles checkout) holding a login with
// access token tok; it returns the source and the link's target.
func symlinkedClaude(t testing.TB, tok string) (Source, string) {
	t.Helper()
	home := t.TempDir()
	src := sourceNamed(t, homeSources(home), SourceClaude)
	real := filepath.Join(home, "dotfiles", "claude.json")
	writeRename(t, real, claudeFile(tok, "rt-SECRET-1", 1764000000000))
	require.NoError(t, os.MkdirAll(src.Dir(), 0o700))
	require.NoError(t, os.Symlink(real, src.Path))
	return src, real
}

// ---- file contents as each tool writes them ----

func fakeJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2lnLVNFQ1JFVA"
}

func pretty(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// claudeFile is Claude Code's .credentials.json.
func claudeFile(access, refresh string, expiresMS int64) []byte {
	return pretty(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken":      access,
		"refreshToken":     refresh,
		"expiresAt":        expiresMS,
		"scopes":           []string{"user:inference", "user:profile", "user:sessions:claude_code"},
		"subscriptionType": "max",
	}})
}

// codexChatGPT is the Codex CLI's auth.json after a ChatGPT login, in the
// member order codex-rs serialises AuthDotJson.
func codexChatGPT(access, refresh, id string) []byte {
	return []byte(fmt.Sprintf(`{
  "auth_mode": "chatgpt",
  "OPENAI_API_KEY": null,
  "tokens": {
    "id_token": %q,
    "access_token": %q,
    "refresh_token": %q,
    "account_id": "acct-123"
  },
  "last_refresh": "2026-11-30T08:15:00.123456Z"
}`, id, access, refresh))
}

// codexKeyFile is what `codex login --with-api-key` 0.171.0 writes.
func codexKeyFile(key string) []byte {
	return []byte(fmt.Sprintf("{\n  \"auth_mode\": \"apikey\",\n  \"OPENAI_API_KEY\": %q\n}", key))
}

func qwenFile(access, refresh string, expiryMS int64) []byte {
	return pretty(map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
		"resource_url": "portal.qwen.ai", "expiry_date": expiryMS,
	})
}

func geminiFile(access, refresh string, expiry float64, id string) []byte {
	return pretty(map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "id_token": id,
		"scope":       "openid https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email",
		"expiry_date": expiry,
	})
}

// ---- running a Watcher ----

type updates struct {
	ch  chan Update
	mu  sync.Mutex
	all []Update
}

func (u *updates) snapshot() []Update {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Update(nil), u.all...)
}

// watch runs w until the test ends and checks that Run then returns nil.
func watch(t testing.TB, w *Watcher) *updates {
	t.Helper()
	u := &updates{ch: make(chan Update, 4096)}
	w.OnChange = func(up Update) {
		u.mu.Lock()
		u.all = append(u.all, up)
		u.mu.Unlock()
		u.ch <- up
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			assert.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return u
}

// next waits (at most 5 s) for the next update that matches, and returns
// it; the updates it passes over are returned too.
func (u *updates) next(t testing.TB, what string, match func(Update) bool) (Update, []Update) {
	t.Helper()
	var skipped []Update
	deadline := time.After(5 * time.Second)
	for {
		select {
		case up := <-u.ch:
			if match(up) {
				return up, skipped
			}
			skipped = append(skipped, up)
		case <-deadline:
			t.Fatalf("no update %s within 5s; got %v", what, skipped)
			return Update{}, nil
		}
	}
}

// initial collects the first update of each of n sources, in whatever
// order they come, failing on a source's second.
func (u *updates) initial(t testing.TB, n int) map[string]Update {
	t.Helper()
	got := map[string]Update{}
	for len(got) < n {
		up, _ := u.next(t, "initial", func(Update) bool { return true })
		_, dup := got[up.Source]
		require.False(t, dup, "initial state of %s emitted twice", up.Source)
		got[up.Source] = up
	}
	return got
}

func hasToken(src, token string) func(Update) bool {
	return func(u Update) bool { return u.Source == src && u.Err == nil && u.Login.AccessToken == token }
}

func notLoggedIn(src string) func(Update) bool {
	return func(u Update) bool { return u.Source == src && errors.Is(u.Err, ErrNotLoggedIn) }
}
