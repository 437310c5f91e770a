package extlogin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/golden"
)

// fixedNow is the write-back clock of these tests.
func fixedNow() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 500_000_000, time.UTC) }

// refreshed is from with new tokens, as a refresh would return them.
func refreshed(from Login, tag string) Login {
	to := from
	to.AccessToken = "at-SECRET-" + tag
	to.RefreshToken = "rt-SECRET-" + tag
	to.ExpiresAt = 1893456000.25
	if from.IDToken != "" {
		to.IDToken = fakeJWT(map[string]any{"email": "dev@example.com", "tag": tag})
	}
	return to
}

const claudeWithExtras = `{
  "claudeAiOauth": {
    "accessToken": "sk-ant-oat01-SECRET-old",
    "refreshToken": "sk-ant-ort01-SECRET-old",
    "expiresAt": 1764000000000,
    "scopes": ["user:inference", "user:profile"],
    "subscriptionType": "max",
    "rateLimitTier": "default_claude_max_20x"
  },
  "mcpOAuth": {"server|abc": {"accessToken": "mcp-SECRET", "expiresAt": 1}}
}
`

func TestWriteBackReplacesOnlyTheTokens(t *testing.T) {
	id := "eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImRldkBleGFtcGxlLmNvbSJ9.c2ln"
	tests := []struct {
		source, golden string
		data           []byte
	}{
		{SourceClaude, "writeback-claude.json", []byte(claudeWithExtras)},
		// An older file without last_refresh: it is added, laid out like
		// the member before it.
		{SourceCodex, "writeback-codex-added.json", []byte("{\n    \"tokens\": {\n        \"id_token\": \"" + id +
			"\",\n        \"access_token\": \"at-SECRET-old\",\n        \"refresh_token\": \"rt-SECRET-old\"\n    }\n}\n")},
		{SourceCodex, "writeback-codex.json", codexChatGPT("at-SECRET-old", "rt-SECRET-old", id)},
		{SourceQwen, "writeback-qwen.json", qwenFile("qw-SECRET-old", "qr-SECRET-old", 1764000000000)},
		// Compact, as a tool that writes no indentation would leave it.
		{SourceGemini, "writeback-gemini.json", []byte(`{"access_token":"ya29.SECRET-old","scope":"openid","token_type":"Bearer","id_token":"` + id + `","expiry_date":1764000000000.5,"refresh_token":"1//SECRET-old"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			src := sourceNamed(t, homeSources(t.TempDir()), tt.source)
			writeRename(t, src.Path, tt.data)
			require.NoError(t, os.Chmod(src.Path, 0o644))
			from, err := Read(src)
			require.NoError(t, err)
			to := refreshed(from, "new")

			require.NoError(t, Writer{Now: fixedNow}.WriteBack(context.Background(), src, from, to))

			out, err := os.ReadFile(src.Path)
			require.NoError(t, err)
			golden.Assert(t, tt.golden, out)
			got, err := Read(src)
			require.NoError(t, err)
			want := to
			want.Label = got.Label // derived from the ID token
			if tt.source == SourceCodex {
				want.ExpiresAt = 0 // Codex keeps the expiry in the access token, a JWT
			}
			assert.Equal(t, want, got)
			fi, err := os.Stat(src.Path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			left, err := filepath.Glob(filepath.Join(src.Dir(), "*credpool*"))
			require.NoError(t, err)
			assert.Empty(t, left, "no temp file left")

			// Writing the same tokens again is a no-op, not ErrChanged.
			require.NoError(t, Writer{Now: fixedNow}.WriteBack(context.Background(), src, from, to))
		})
	}
}

func TestWriteBackKeepsASymlink(t *testing.T) {
	src, real := symlinkedClaude(t, "sk-ant-SECRET-1")
	from, err := Read(src)
	require.NoError(t, err)
	to := refreshed(from, "2")

	require.NoError(t, Writer{}.WriteBack(context.Background(), src, from, to))
	fi, err := os.Lstat(src.Path)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "the user's link is kept")
	got, err := Read(src)
	require.NoError(t, err)
	assert.Equal(t, to.AccessToken, got.AccessToken)
	b, err := os.ReadFile(real)
	require.NoError(t, err)
	assert.Contains(t, string(b), to.AccessToken, "the file the link points to holds the new tokens")
}

func TestWriteBackRefuses(t *testing.T) {
	good := claudeFile("sk-ant-SECRET-1", "rt-SECRET-1", 1764000000000)
	fromGood := Login{Source: SourceClaude, Provider: ProviderAnthropic, AuthType: AuthOAuth,
		AccessToken: "sk-ant-SECRET-1", RefreshToken: "rt-SECRET-1", ExpiresAt: 1764000000}
	tests := []struct {
		name    string
		file    func(t *testing.T, path string) // what is on disk
		from    Login
		to      func(Login) Login
		wantErr error
		wantMsg string
	}{
		{"a partial file", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, good[:50], 0o600)) },
			fromGood, nil, ErrPartial, "ends early"},
		{"not JSON", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte("SECRET"), 0o600)) },
			fromGood, nil, ErrPartial, "not valid JSON"},
		{"no file", func(t *testing.T, p string) {}, fromGood, nil, ErrNotLoggedIn, "no file"},
		{"a FIFO", func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o600)) }, fromGood, nil, ErrBadFile, "a FIFO"},
		{"tokens changed meanwhile", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, claudeFile("sk-ant-SECRET-other", "rt-SECRET-other", 1764000000000), 0o600))
		}, fromGood, nil, ErrChanged, ""},
		{"a refresh-race loser blanked the file", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, claudeFile("", "", 0), 0o600))
		}, fromGood, nil, ErrChanged, ""},
		{"an empty access token", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, good, 0o600)) },
			fromGood, func(l Login) Login { l.AccessToken = ""; return l }, nil, "no access token"},
		{"no expiry (what a loser writes)", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, good, 0o600)) },
			fromGood, func(l Login) Login { l.ExpiresAt = 0; return l }, nil, "no expiry"},
		{"an API key", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, good, 0o600)) },
			fromGood, func(l Login) Login { l.AuthType = AuthAPIKey; return l }, nil, "only OAuth"},
		{"another source's login", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, good, 0o600)) },
			fromGood, func(l Login) Login { l.Source = SourceQwen; return l }, nil, "from source"},
		{"a symlinked lock", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, good, 0o600))
			require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(filepath.Dir(p), claudeLockName)))
		}, fromGood, nil, ErrBadFile, "a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := sourceNamed(t, homeSources(t.TempDir()), SourceClaude)
			require.NoError(t, os.MkdirAll(src.Dir(), 0o700))
			tt.file(t, src.Path)
			before := snapshotFile(t, src.Path)
			to := refreshed(tt.from, "new")
			if tt.to != nil {
				to = tt.to(to)
			}
			done := make(chan error, 1)
			go func() { done <- Writer{LockTimeout: time.Second}.WriteBack(context.Background(), src, tt.from, to) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("WriteBack hung")
			}
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.NotContains(t, err.Error(), secret)
			assert.Equal(t, before, snapshotFile(t, src.Path), "the file is left as it was")
		})
	}
}

// snapshotFile is a file's type and, for a regular file, its bytes.
func snapshotFile(t *testing.T, path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "missing"
	}
	if !fi.Mode().IsRegular() {
		return fi.Mode().Type().String()
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestWriteBackTakesTheToolsFlock(t *testing.T) {
	for _, tt := range []struct {
		source string
		locks  []string
		file   func(access, refresh string) []byte
	}{
		{SourceClaude, []string{claudeLockName}, func(a, r string) []byte { return claudeFile(a, r, 1764000000000) }},
		{SourceCodex, []string{codexLockName, codexFileLockName}, func(a, r string) []byte { return codexChatGPT(a, r, "") }},
	} {
		for _, lock := range tt.locks {
			t.Run(tt.source+"/"+lock, func(t *testing.T) {
				src := sourceNamed(t, homeSources(t.TempDir()), tt.source)
				data := tt.file("at-SECRET-1", "rt-SECRET-1")
				writeRename(t, src.Path, data)
				from, err := Read(src)
				require.NoError(t, err)

				// The tool holds its lock: WriteBack waits, then gives up.
				held := flock.New(filepath.Join(src.Dir(), lock))
				require.NoError(t, held.Lock())
				err = Writer{LockTimeout: 100 * time.Millisecond}.WriteBack(context.Background(), src, from, refreshed(from, "2"))
				require.ErrorIs(t, err, ErrLocked)
				assert.Equal(t, string(data), snapshotFile(t, src.Path))

				// The tool refreshes under its lock while WriteBack waits: the
				// re-read after the lock sees it, and nothing is written over.
				done := make(chan error, 1)
				go func() { done <- Writer{}.WriteBack(context.Background(), src, from, refreshed(from, "3")) }()
				writeRename(t, src.Path, tt.file("at-SECRET-tool", "rt-SECRET-tool"))
				require.NoError(t, held.Unlock())
				select {
				case err = <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("WriteBack did not take the released lock")
				}
				require.ErrorIs(t, err, ErrChanged)
				got, err := Read(src)
				require.NoError(t, err)
				assert.Equal(t, "at-SECRET-tool", got.AccessToken)

				// Lock free: it writes.
				require.NoError(t, Writer{}.WriteBack(context.Background(), src, got, refreshed(got, "4")))
				got, err = Read(src)
				require.NoError(t, err)
				assert.Equal(t, "at-SECRET-4", got.AccessToken)
			})
		}
	}
}

func TestWriteBackQwenLock(t *testing.T) {
	src := sourceNamed(t, homeSources(t.TempDir()), SourceQwen)
	data := qwenFile("qw-SECRET-1", "qr-SECRET-1", 1764000000000)
	writeRename(t, src.Path, data)
	from, err := Read(src)
	require.NoError(t, err)
	lock := filepath.Join(src.Dir(), qwenLockName)

	// Another Qwen process holds the lock.
	require.NoError(t, os.WriteFile(lock, []byte("their-lock-id"), 0o600))
	err = Writer{LockTimeout: 300 * time.Millisecond}.WriteBack(context.Background(), src, from, refreshed(from, "2"))
	require.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, string(data), snapshotFile(t, src.Path))
	assert.Equal(t, "their-lock-id", snapshotFile(t, lock), "a live lock is not ours to remove")

	// Ten seconds later by the clock, that lock is stale: it is broken, the
	// write goes through, and our own lock is removed after.
	later := func() time.Time { return time.Now().Add(11 * time.Second) }
	require.NoError(t, Writer{Now: later}.WriteBack(context.Background(), src, from, refreshed(from, "2")))
	got, err := Read(src)
	require.NoError(t, err)
	assert.Equal(t, "at-SECRET-2", got.AccessToken)
	left, err := filepath.Glob(filepath.Join(src.Dir(), qwenLockName+"*"))
	require.NoError(t, err)
	assert.Empty(t, left)

	// A lock released while WriteBack polls is taken.
	require.NoError(t, os.WriteFile(lock, []byte("their-lock-id"), 0o600))
	done := make(chan error, 1)
	go func() { done <- Writer{}.WriteBack(context.Background(), src, got, refreshed(got, "3")) }()
	require.NoError(t, os.Remove(lock))
	select {
	case err = <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("WriteBack did not take the released lock")
	}
}

// TestUpdateRefreshesUnderTheToolsLock: the refresh runs while the tool's
// lock is held (the tool, waiting for it, then finds the new pair), only
// when the file still holds the login that was read; a login the tool
// rotated meanwhile is handed back instead, and a failed refresh writes
// nothing.
func TestUpdateRefreshesUnderTheToolsLock(t *testing.T) {
	tests := []struct {
		name       string
		rotated    bool  // the tool rotated the login before Update
		refreshErr error // what the refresh answers
		wantErr    error
		refreshed  bool // the refresh was called
		written    bool // the file holds the new tokens
	}{
		{"the file holds the login", false, nil, nil, true, true},
		{"the tool rotated it first", true, nil, ErrChanged, false, false},
		{"the refresh fails", false, errors.New("endpoint down"), nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			src := sourceNamed(t, homeSources(home), SourceClaude)
			writeRename(t, src.Path, claudeFile("sk-ant-SECRET-1", "rt-SECRET-1", 1764000000000))
			from, err := Read(src)
			require.NoError(t, err)
			if tt.rotated {
				writeRename(t, src.Path, claudeFile("sk-ant-SECRET-tool", "rt-SECRET-tool", 1764000000000))
			}
			to := refreshed(from, "2")
			called := false
			got, err := Writer{}.Update(context.Background(), src, from, func(context.Context) (Login, error) {
				called = true
				// The tool's own flock is held by us now.
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				unlock, lockErr := flockAll(ctx, filepath.Join(src.Dir(), claudeLockName))
				if lockErr == nil {
					unlock()
				}
				assert.Error(t, lockErr, "the tool's lock is free during the refresh")
				return to, tt.refreshErr
			})
			assert.Equal(t, tt.refreshed, called)
			switch {
			case tt.refreshErr != nil:
				assert.ErrorIs(t, err, tt.refreshErr)
			case tt.wantErr != nil:
				assert.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, "sk-ant-SECRET-tool", got.AccessToken, "the tool's login is handed back")
			default:
				require.NoError(t, err)
				assert.Equal(t, to.AccessToken, got.AccessToken)
			}
			now, err := Read(src)
			require.NoError(t, err)
			assert.Equal(t, tt.written, now.AccessToken == to.AccessToken)
		})
	}
}
