package extlogin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestWatcherEmitsInitialStateOnce(t *testing.T) {
	home := t.TempDir()
	srcs := homeSources(home)
	codex := sourceNamed(t, srcs, SourceCodex)
	writeRename(t, codex.Path, codexKeyFile("sk-proj-SECRET-init"))
	claude := sourceNamed(t, srcs, SourceClaude)
	require.NoError(t, os.MkdirAll(claude.Dir(), 0o700)) // directory but no file
	// ~/.qwen and ~/.gemini are missing altogether.

	w := &Watcher{Sources: srcs}
	u := watch(t, w)
	got := u.initial(t, len(srcs))
	require.NoError(t, got[SourceCodex].Err)
	assert.Equal(t, ProviderOpenAI, got[SourceCodex].Login.Provider)
	assert.Equal(t, AuthAPIKey, got[SourceCodex].Login.AuthType)
	assert.Equal(t, "sk-proj-SECRET-init", got[SourceCodex].Login.AccessToken)
	for _, name := range []string{SourceClaude, SourceQwen, SourceGemini} {
		assert.ErrorIs(t, got[name].Err, ErrNotLoggedIn, name)
		assert.Equal(t, Login{}, got[name].Login, name)
	}
}

// watchClaude watches a Claude Code login with access token tok, past its
// initial update.
func watchClaude(t *testing.T, tok string) (Source, *updates) {
	t.Helper()
	src := sourceNamed(t, homeSources(t.TempDir()), SourceClaude)
	writeRename(t, src.Path, claudeFile(tok, "rt-SECRET-1", 1893456000000))
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "initial login", hasToken(SourceClaude, tok))
	return src, u
}

func TestWatcherClaudeCodeRenameLoserAndRelogin(t *testing.T) {
	src, u := watchClaude(t, "sk-ant-SECRET-1")

	// Two instances raced a refresh; the loser writes blanked tokens.
	writeRename(t, src.Path, claudeFile("", "", 0))
	up, skipped := u.next(t, "broken login", func(u Update) bool { return u.Login.Broken != "" })
	assert.Empty(t, skipped)
	require.NoError(t, up.Err)
	assert.Equal(t, SourceClaude, up.Login.Source, "the broken login keeps its source visible")
	assert.Equal(t, ProviderAnthropic, up.Login.Provider)
	assert.Empty(t, up.Login.AccessToken+up.Login.RefreshToken, "empty tokens are never adopted")
	assert.Empty(t, up.Login.Fingerprint())

	// /login in another terminal.
	writeRename(t, src.Path, claudeFile("sk-ant-SECRET-2", "rt-SECRET-2", 1893456000000))
	up, skipped = u.next(t, "re-login", hasToken(SourceClaude, "sk-ant-SECRET-2"))
	assert.Empty(t, skipped)
	assert.Equal(t, "rt-SECRET-2", up.Login.RefreshToken)
	assert.Empty(t, up.Login.Broken)
}

func TestWatcherFollowsASymlinkAndItsReplacement(t *testing.T) {
	src, real := symlinkedClaude(t, "sk-ant-SECRET-link1")
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "login through the link", hasToken(SourceClaude, "sk-ant-SECRET-link1"))

	// The link's target changes in its own directory.
	writeRename(t, real, claudeFile("sk-ant-SECRET-link2", "rt", 1893456000000))
	u.next(t, "change of the link's target", hasToken(SourceClaude, "sk-ant-SECRET-link2"))

	// Claude Code's rename replaces the link with a regular file.
	writeRename(t, src.Path, claudeFile("sk-ant-SECRET-file", "rt", 1893456000000))
	u.next(t, "the file that replaced the link", hasToken(SourceClaude, "sk-ant-SECRET-file"))
	fi, err := os.Lstat(src.Path)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular())

	// The old target is no longer the login: changing it is no update.
	writeRename(t, real, claudeFile("sk-ant-SECRET-stale", "rt", 1893456000000))
	writeRename(t, src.Path, claudeFile("sk-ant-SECRET-file2", "rt", 1893456000000))
	_, skipped := u.next(t, "second file write", hasToken(SourceClaude, "sk-ant-SECRET-file2"))
	assert.Empty(t, skipped)
}

func TestWatcherCodexInPlacePartialWritesNeverSurface(t *testing.T) {
	home := t.TempDir()
	src := sourceNamed(t, homeSources(home), SourceCodex)
	id := fakeJWT(map[string]any{"email": "dev@example.com"})
	writeInPlace(t, src.Path, codexChatGPT("at-SECRET-0", "rt-SECRET-0", id), 0)
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "initial login", hasToken(SourceCodex, "at-SECRET-0"))

	const n = 8
	for i := 1; i <= n; i++ {
		// Truncate, write half, pause, write the rest.
		writeInPlace(t, src.Path, codexChatGPT(fmt.Sprintf("at-SECRET-%d", i), fmt.Sprintf("rt-SECRET-%d", i), id), 30*time.Millisecond)
	}
	u.next(t, "the last full login", hasToken(SourceCodex, fmt.Sprintf("at-SECRET-%d", n)))
	for _, up := range u.snapshot() {
		require.NoError(t, up.Err, "a partial write surfaced")
		assert.Equal(t, ProviderOpenAICodex, up.Login.Provider)
		assert.Regexp(t, `^at-SECRET-\d$`, up.Login.AccessToken)
		assert.Equal(t, "rt"+up.Login.AccessToken[2:], up.Login.RefreshToken, "tokens of one write, never mixed")
	}
}

func TestWatcherReportsAStuckPartialAndKeepsTheLastGoodLogin(t *testing.T) {
	home := t.TempDir()
	src := sourceNamed(t, homeSources(home), SourceGemini)
	writeInPlace(t, src.Path, geminiFile("ya29.SECRET-good", "1//SECRET", 1893456000000, ""), 0)
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "initial login", hasToken(SourceGemini, "ya29.SECRET-good"))

	// A writer that died half-way.
	full := geminiFile("ya29.SECRET-next", "1//SECRET", 1893456000000, "")
	writeInPlace(t, src.Path, full[:len(full)/2], 0)
	up, _ := u.next(t, "partial", func(u Update) bool { return u.Err != nil })
	assert.ErrorIs(t, up.Err, ErrPartial)
	assert.NotContains(t, up.Err.Error(), secret)
	assert.Equal(t, "ya29.SECRET-good", up.Login.AccessToken, "the last good login is kept")

	writeInPlace(t, src.Path, full, 0)
	u.next(t, "the completed login", hasToken(SourceGemini, "ya29.SECRET-next"))
}

func TestWatcherQwenAndGemini(t *testing.T) {
	home := t.TempDir()
	srcs := homeSources(home)
	qwen, gemini := sourceNamed(t, srcs, SourceQwen), sourceNamed(t, srcs, SourceGemini)
	u := watch(t, &Watcher{Sources: []Source{qwen, gemini}})
	for name, up := range u.initial(t, 2) {
		require.ErrorIs(t, up.Err, ErrNotLoggedIn, name)
	}

	writeRename(t, qwen.Path, qwenFile("qw-SECRET-1", "qr-SECRET-1", 1893456000000))
	up, _ := u.next(t, "qwen login", hasToken(SourceQwen, "qw-SECRET-1"))
	assert.Equal(t, ProviderQwenOAuth, up.Login.Provider)
	assert.Equal(t, float64(1893456000), up.Login.ExpiresAt)

	writeInPlace(t, gemini.Path, geminiFile("ya29.SECRET-1", "1//SECRET-1", 1893456000500, ""), 0)
	up, _ = u.next(t, "gemini login", hasToken(SourceGemini, "ya29.SECRET-1"))
	assert.Equal(t, ProviderGeminiCLI, up.Login.Provider)
	assert.Equal(t, 1893456000.5, up.Login.ExpiresAt)

	require.NoError(t, os.Remove(qwen.Path))
	u.next(t, "qwen logout", notLoggedIn(SourceQwen))
}

func TestWatcherMissingDirectoriesAppearAndGo(t *testing.T) {
	home := t.TempDir()
	deep := filepath.Join(home, "a", "b", "c")
	srcs := Sources(env(map[string]string{"HOME": home, "CODEX_HOME": deep}))
	codex, qwen := sourceNamed(t, srcs, SourceCodex), sourceNamed(t, srcs, SourceQwen)
	u := watch(t, &Watcher{Sources: []Source{codex, qwen}})
	for name, up := range u.initial(t, 2) {
		require.ErrorIs(t, up.Err, ErrNotLoggedIn, name)
	}

	// mkdir -p of three levels, then the login.
	writeRename(t, codex.Path, codexKeyFile("sk-SECRET-deep"))
	u.next(t, "codex login in a new directory", hasToken(SourceCodex, "sk-SECRET-deep"))

	writeRename(t, qwen.Path, qwenFile("qw-SECRET-1", "r", 1893456000000))
	u.next(t, "qwen login in a new directory", hasToken(SourceQwen, "qw-SECRET-1"))

	// The directory goes, and comes back: the watch is re-armed.
	require.NoError(t, os.RemoveAll(qwen.Dir()))
	u.next(t, "qwen logout with its directory", notLoggedIn(SourceQwen))
	writeRename(t, qwen.Path, qwenFile("qw-SECRET-2", "r", 1893456000000))
	u.next(t, "qwen login in the recreated directory", hasToken(SourceQwen, "qw-SECRET-2"))

	require.NoError(t, os.RemoveAll(filepath.Join(home, "a")))
	u.next(t, "codex logout", notLoggedIn(SourceCodex))
	writeRename(t, codex.Path, codexKeyFile("sk-SECRET-deep2"))
	u.next(t, "codex login again", hasToken(SourceCodex, "sk-SECRET-deep2"))
}

func TestWatcherDoesNoWorkForABusyHome(t *testing.T) {
	home := t.TempDir()
	srcs := homeSources(home) // every tool directory is missing: home itself is watched
	w := &Watcher{Sources: srcs}
	u := watch(t, w)
	u.initial(t, len(srcs))
	before := w.reads.Load()

	for i := range 300 {
		p := filepath.Join(home, fmt.Sprintf("busy-%d.txt", i))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		require.NoError(t, os.Rename(p, p+".old"))
		require.NoError(t, os.Remove(p+".old"))
	}
	require.NoError(t, os.Mkdir(filepath.Join(home, ".cache"), 0o700))

	// Events come in order: once this login arrives, the noise before it
	// has been handled.
	qwen := sourceNamed(t, srcs, SourceQwen)
	writeRename(t, qwen.Path, qwenFile("qw-SECRET-after-noise", "r", 1893456000000))
	u.next(t, "qwen login after the noise", hasToken(SourceQwen, "qw-SECRET-after-noise"))
	assert.LessOrEqual(t, w.reads.Load()-before, int64(3), "900 unrelated events read no file")
}

func TestWatcherSameLoginRewrittenIsNoUpdate(t *testing.T) {
	home := t.TempDir()
	src := sourceNamed(t, homeSources(home), SourceCodex)
	id := fakeJWT(map[string]any{"email": "dev@example.com"})
	writeRename(t, src.Path, codexChatGPT("at-SECRET-same", "rt-SECRET", id))
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "initial", hasToken(SourceCodex, "at-SECRET-same"))

	// The same tokens with another last_refresh and layout.
	same := []byte(`{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{"id_token":"` + id +
		`","access_token":"at-SECRET-same","refresh_token":"rt-SECRET","account_id":"acct-123"},"last_refresh":"2026-12-01T00:00:00Z"}`)
	writeRename(t, src.Path, same)
	writeInPlace(t, src.Path, same, 0)
	writeRename(t, src.Path, codexChatGPT("at-SECRET-new", "rt-SECRET", id))
	_, skipped := u.next(t, "the new tokens", hasToken(SourceCodex, "at-SECRET-new"))
	assert.Empty(t, skipped, "rewrites of the same login are no change")
}

func TestWatcherResyncCatchesAMissedEvent(t *testing.T) {
	home := t.TempDir()
	src := sourceNamed(t, homeSources(home), SourceClaude)
	writeRename(t, src.Path, claudeFile("sk-ant-SECRET-AAAA", "rt", 1893456000000))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(src.Path, old, old))

	u := watch(t, &Watcher{Sources: []Source{src}, Resync: 20 * time.Millisecond})
	u.next(t, "initial", hasToken(SourceClaude, "sk-ant-SECRET-AAAA"))

	// A write through a shared mapping raises no inotify event: only the
	// re-stat (the mtime moved) can see it.
	f, err := os.OpenFile(src.Path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(m)
	at := bytes.Index(m, []byte("SECRET-AAAA"))
	require.GreaterOrEqual(t, at, 0)
	copy(m[at:], "SECRET-BBBB")
	require.NoError(t, unix.Msync(m, unix.MS_SYNC))

	u.next(t, "the change seen by the re-stat", hasToken(SourceClaude, "sk-ant-SECRET-BBBB"))
}

func TestWatcherSurvivesHostileFiles(t *testing.T) {
	src, u := watchClaude(t, "sk-ant-SECRET-good")

	for _, tt := range []struct {
		name string
		make func(path string) error
		msg  string
	}{
		{"FIFO", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "a FIFO"},
		{"symlink to /dev/zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "a character device"},
	} {
		require.NoError(t, os.Remove(src.Path))
		u.next(t, "logout", notLoggedIn(SourceClaude))
		require.NoError(t, tt.make(src.Path))
		up, _ := u.next(t, tt.name, func(u Update) bool { return errors.Is(u.Err, ErrBadFile) })
		assert.Contains(t, up.Err.Error(), tt.msg)
		// Once the file is back, so is the login.
		writeRename(t, src.Path, claudeFile("sk-ant-SECRET-good", "rt", 1893456000000))
		u.next(t, "login after "+tt.name, hasToken(SourceClaude, "sk-ant-SECRET-good"))
	}
}

func TestWatcherRequiresOnChange(t *testing.T) {
	err := (&Watcher{}).Run(t.Context())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotLoggedIn))
}
