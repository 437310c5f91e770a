package extlogin

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSources(t *testing.T) {
	paths := func(srcs []Source) map[string]string {
		m := map[string]string{}
		for _, s := range srcs {
			m[s.Name] = s.Path
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"defaults under HOME", map[string]string{"HOME": "/home/u"}, map[string]string{
			SourceCodex:  "/home/u/.codex/auth.json",
			SourceClaude: "/home/u/.claude/.credentials.json",
			SourceQwen:   "/home/u/.qwen/oauth_creds.json",
			SourceGemini: "/home/u/.gemini/oauth_creds.json",
		}},
		{"overrides", map[string]string{
			"HOME": "/home/u", "CODEX_HOME": "/srv/codex/", "CLAUDE_CONFIG_DIR": "~/work/claude",
			"QWEN_HOME": "/q", "GEMINI_CLI_HOME": "/g",
		}, map[string]string{
			SourceCodex:  "/srv/codex/auth.json",
			SourceClaude: "/home/u/work/claude/.credentials.json",
			SourceQwen:   "/q/oauth_creds.json",
			SourceGemini: "/g/.gemini/oauth_creds.json",
		}},
		{"a relative override is not the daemon's to guess", map[string]string{"HOME": "/home/u", "CODEX_HOME": "codex"}, map[string]string{
			SourceCodex:  "/home/u/.codex/auth.json",
			SourceClaude: "/home/u/.claude/.credentials.json",
			SourceQwen:   "/home/u/.qwen/oauth_creds.json",
			SourceGemini: "/home/u/.gemini/oauth_creds.json",
		}},
		{"no HOME: only what an override names", map[string]string{"CLAUDE_CONFIG_DIR": "/c"}, map[string]string{
			SourceClaude: "/c/.credentials.json",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := Sources(env(tt.env))
			assert.Equal(t, tt.want, paths(srcs))
			for _, s := range srcs {
				assert.NotEmpty(t, s.Provider, s.Name)
			}
		})
	}
	providers := map[string]string{}
	for _, s := range homeSources("/h") {
		providers[s.Name] = s.Provider
	}
	assert.Equal(t, map[string]string{
		SourceCodex: ProviderOpenAICodex, SourceClaude: ProviderAnthropic,
		SourceQwen: ProviderQwenOAuth, SourceGemini: ProviderGeminiCLI,
	}, providers)
}

func TestReadFormats(t *testing.T) {
	exp := int64(1893456000) // 2030-01-01
	access := fakeJWT(map[string]any{"exp": exp, "SECRET": 1})
	id := fakeJWT(map[string]any{
		"email":                       "dev@example.com",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-from-jwt"},
	})
	// An exp that is no number is no expiry, and costs neither the email
	// nor the account id beside it.
	stringExp := fakeJWT(map[string]any{
		"exp":                         "1893456000",
		"email":                       "dev@example.com",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-from-jwt"},
	})
	accessStringExp := fakeJWT(map[string]any{"exp": "1893456000", "SECRET": 1})
	tests := []struct {
		name, source string
		data         []byte
		want         Login
		wantErr      error
	}{
		{"codex api key, as codex login --with-api-key writes it", SourceCodex, codexKeyFile("sk-proj-SECRET-1"),
			Login{Source: SourceCodex, Provider: ProviderOpenAI, AuthType: AuthAPIKey, AccessToken: "sk-proj-SECRET-1", Label: SourceCodex}, nil},
		{"codex api key without auth_mode (older files)", SourceCodex, []byte(`{"OPENAI_API_KEY":"sk-SECRET-old"}`),
			Login{Source: SourceCodex, Provider: ProviderOpenAI, AuthType: AuthAPIKey, AccessToken: "sk-SECRET-old", Label: SourceCodex}, nil},
		{"codex chatgpt", SourceCodex, codexChatGPT(access, "rt-SECRET-1", id),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, AccessToken: access, RefreshToken: "rt-SECRET-1",
				IDToken: id, AccountID: "acct-123", Label: "codex_cli (dev@example.com)", ExpiresAt: float64(exp)}, nil},
		{"codex chatgpt without account_id takes the id token's", SourceCodex,
			[]byte(`{"auth_mode":"chatgpt","tokens":{"id_token":"` + id + `","access_token":"at-SECRET","refresh_token":"rt-SECRET"}}`),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, AccessToken: "at-SECRET", RefreshToken: "rt-SECRET",
				IDToken: id, AccountID: "acct-from-jwt", Label: "codex_cli (dev@example.com)"}, nil},
		{"codex chatgpt whose tokens have an exp string", SourceCodex,
			[]byte(`{"auth_mode":"chatgpt","tokens":{"id_token":"` + stringExp + `","access_token":"` + accessStringExp + `","refresh_token":"rt-SECRET"}}`),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, AccessToken: accessStringExp, RefreshToken: "rt-SECRET",
				IDToken: stringExp, AccountID: "acct-from-jwt", Label: "codex_cli (dev@example.com)"}, nil},
		{"codex chatgpt with an absurd exp has no expiry", SourceCodex, codexChatGPT(fakeJWT(map[string]any{"exp": 1e20}), "rt-SECRET-1", id),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, AccessToken: fakeJWT(map[string]any{"exp": 1e20}), RefreshToken: "rt-SECRET-1",
				IDToken: id, AccountID: "acct-123", Label: "codex_cli (dev@example.com)"}, nil},
		{"codex chatgpt without tokens is broken", SourceCodex, []byte(`{"auth_mode":"chatgpt","OPENAI_API_KEY":null}`),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, Label: SourceCodex, Broken: "auth_mode is chatgpt but there are no tokens"}, nil},
		{"codex auth mode credpool cannot use", SourceCodex, []byte(`{"auth_mode":"agentIdentity"}`),
			Login{Source: SourceCodex, Provider: ProviderOpenAICodex, AuthType: AuthOAuth, Label: SourceCodex, Broken: "auth_mode agentIdentity is not one credpool can use"}, nil},
		{"codex logged out of both", SourceCodex, []byte(`{"OPENAI_API_KEY":null}`), Login{}, ErrNotLoggedIn},
		{"claude", SourceClaude, claudeFile("sk-ant-oat01-SECRET", "sk-ant-ort01-SECRET", 1893456000123),
			Login{Source: SourceClaude, Provider: ProviderAnthropic, AuthType: AuthOAuth, AccessToken: "sk-ant-oat01-SECRET",
				RefreshToken: "sk-ant-ort01-SECRET", Label: "claude_code (max)", ExpiresAt: 1893456000.123}, nil},
		{"claude blanked by a refresh-race loser", SourceClaude, claudeFile("", "", 0),
			Login{Source: SourceClaude, Provider: ProviderAnthropic, AuthType: AuthOAuth, Label: SourceClaude,
				Broken: "claudeAiOauth.accessToken and refreshToken are empty (another instance may have lost a refresh race); log in again"}, nil},
		{"claude without an OAuth login", SourceClaude, []byte(`{"mcpOAuth":{}}`), Login{}, ErrNotLoggedIn},
		{"claude with a token of the wrong type", SourceClaude, []byte(`{"claudeAiOauth":{"accessToken":12,"refreshToken":"SECRET"}}`), Login{}, ErrBadFile},
		{"qwen", SourceQwen, qwenFile("qw-SECRET-a", "qw-SECRET-r", 1893456000000),
			Login{Source: SourceQwen, Provider: ProviderQwenOAuth, AuthType: AuthOAuth, AccessToken: "qw-SECRET-a", RefreshToken: "qw-SECRET-r",
				Label: SourceQwen, ExpiresAt: 1893456000}, nil},
		{"gemini, fractional expiry_date", SourceGemini, geminiFile("ya29.SECRET", "1//SECRET", 1769159945362.5, id),
			Login{Source: SourceGemini, Provider: ProviderGeminiCLI, AuthType: AuthOAuth, AccessToken: "ya29.SECRET", RefreshToken: "1//SECRET",
				IDToken: id, Label: "gemini_cli (dev@example.com)", ExpiresAt: 1769159945.3625}, nil},
		{"gemini external account is not a user login", SourceGemini, []byte(`{"type":"external_account_authorized_user","access_token":"SECRET","refresh_token":"SECRET"}`),
			Login{Source: SourceGemini, Provider: ProviderGeminiCLI, AuthType: AuthOAuth, Label: SourceGemini,
				Broken: "type is not authorized_user (not a Google user OAuth login)"}, nil},
		{"a JSON array is the wrong shape", SourceQwen, []byte(`["SECRET"]`), Login{}, ErrBadFile},
		{"tokens of the wrong shape", SourceCodex, []byte(`{"auth_mode":"chatgpt","tokens":"SECRET"}`), Login{}, ErrBadFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			src := sourceNamed(t, homeSources(home), tt.source)
			writeRename(t, src.Path, tt.data)
			got, err := Read(src)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), secret)
				assert.Contains(t, err.Error(), src.Path)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadHostileFiles(t *testing.T) {
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		wantErr error
		wantMsg string
	}{
		{"missing file", func(t *testing.T, path string) {}, ErrNotLoggedIn, "no file"},
		{"missing directory", func(t *testing.T, path string) { require.NoError(t, os.RemoveAll(filepath.Dir(path))) }, ErrNotLoggedIn, "no file"},
		{"a parent is a file", func(t *testing.T, path string) {
			require.NoError(t, os.RemoveAll(filepath.Dir(path)))
			require.NoError(t, os.WriteFile(filepath.Dir(path), nil, 0o600))
		}, ErrBadFile, "not a directory"},
		{"FIFO", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) }, ErrBadFile, "a FIFO"},
		{"symlink to /dev/zero", func(t *testing.T, path string) { require.NoError(t, os.Symlink("/dev/zero", path)) }, ErrBadFile, "a character device"},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, ErrBadFile, "a directory"},
		{"symlink loop", func(t *testing.T, path string) { require.NoError(t, os.Symlink(filepath.Base(path), path)) }, ErrBadFile, "symbolic links"},
		{"oversized (sparse, 4 GiB)", func(t *testing.T, path string) {
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(4<<30))
			require.NoError(t, f.Close())
		}, ErrBadFile, "more than the 1048576"},
		{"empty", func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, nil, 0o600)) }, ErrPartial, "empty"},
		{"truncated mid-token", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, claudeFile("sk-ant-SECRET-abc", "SECRET", 1)[:40], 0o600))
		}, ErrPartial, "ends early, at byte 40"},
		{"not JSON", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("SECRET=sk-ant\n"), 0o600))
		}, ErrPartial, "not valid JSON at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := sourceNamed(t, homeSources(t.TempDir()), SourceClaude)
			require.NoError(t, os.MkdirAll(src.Dir(), 0o700))
			tt.make(t, src.Path)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { _, err := Read(src); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Read hung")
			}
			runtime.ReadMemStats(&after)

			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.NotContains(t, err.Error(), secret)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2<<20), "a refused file costs no large allocation")
		})
	}
}

func TestReadRefusesNothingItShouldTake(t *testing.T) {
	// A symlinked credential file (a dotfiles checkout) is read through.
	src, _ := symlinkedClaude(t, "sk-ant-SECRET-link")
	l, err := Read(src)
	require.NoError(t, err)
	assert.Equal(t, "sk-ant-SECRET-link", l.AccessToken)
	assert.False(t, errors.Is(err, ErrBadFile))
}

// Names is what the external_logins setting accepts; it must name exactly
// the sources Sources makes, in the same order.
func TestNamesAreSourcesOrder(t *testing.T) {
	var got []string
	for _, s := range Sources(env(map[string]string{"HOME": "/home/u"})) {
		got = append(got, s.Name)
	}
	assert.Equal(t, Names(), got)
}

// EnvVars is what a harness unsets to keep a daemon off the developer's
// logins: Sources must read exactly HOME and those, and each must move its
// own source, in Sources' order.
func TestEnvVarsAreWhatSourcesReads(t *testing.T) {
	var read []string
	Sources(func(k string) string { read = append(read, k); return "" })
	assert.Equal(t, append([]string{"HOME"}, EnvVars()...), read)

	base := Sources(env(map[string]string{"HOME": "/home/u"}))
	require.Len(t, EnvVars(), len(base))
	for i, v := range EnvVars() {
		moved := Sources(env(map[string]string{"HOME": "/home/u", v: "/moved"}))
		require.Len(t, moved, len(base), v)
		for j := range base {
			if j == i {
				assert.True(t, strings.HasPrefix(moved[j].Path, "/moved/"), "%s moves %s: %s", v, base[j].Name, moved[j].Path)
			} else {
				assert.Equal(t, base[j].Path, moved[j].Path, "%s moves only source %d", v, i)
			}
		}
	}
}
