package extlogin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The real Codex CLI, from the root package.json's devDependency
// @openai/codex (npm install at the module root), or $CREDPOOL_CODEX_BIN.

func codexBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("CREDPOOL_CODEX_BIN"); bin != "" {
		return bin
	}
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test: cannot find node_modules")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "codex")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("the real Codex CLI is not installed (%s missing): run `npm install` at the module root, or set CREDPOOL_CODEX_BIN", bin)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH: the npm-installed Codex CLI is started by node")
	}
	return bin
}

// codexCLI runs the real codex with only the environment it needs: its
// CODEX_HOME (which must exist), a scratch HOME, and PATH to find node.
type codexCLI struct {
	bin, codexHome, home string
}

func newCodexCLI(t *testing.T) codexCLI {
	return codexCLI{bin: codexBin(t), codexHome: t.TempDir(), home: t.TempDir()}
}

func (c codexCLI) sources() []Source {
	return Sources(env(map[string]string{"HOME": c.home, "CODEX_HOME": c.codexHome}))
}

func (c codexCLI) command(ctx context.Context, stdin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.home, "CODEX_HOME=" + c.codexHome}
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

func (c codexCLI) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := c.command(ctx, stdin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "codex %s: %s", strings.Join(args, " "), out.String())
	return out.String()
}

// login is `printf '%s' "$KEY" | codex login --with-api-key`.
func (c codexCLI) login(t *testing.T, key string) { c.run(t, key, "login", "--with-api-key") }

func TestRealCodexCLILoginsAreFollowed(t *testing.T) {
	c := newCodexCLI(t)
	src := sourceNamed(t, c.sources(), SourceCodex)
	u := watch(t, &Watcher{Sources: []Source{src}})
	u.next(t, "logged out", notLoggedIn(SourceCodex))

	c.login(t, "sk-proj-SECRET-codex-1")
	up, _ := u.next(t, "the first login", hasToken(SourceCodex, "sk-proj-SECRET-codex-1"))
	assert.Equal(t, ProviderOpenAI, up.Login.Provider)
	assert.Equal(t, AuthAPIKey, up.Login.AuthType)
	assert.Empty(t, up.Login.Broken)
	assert.Equal(t, fingerprint("sk-proj-SECRET-codex-1"), up.Login.Fingerprint())

	c.login(t, "sk-proj-SECRET-codex-2")
	_, skipped := u.next(t, "the second login", hasToken(SourceCodex, "sk-proj-SECRET-codex-2"))
	assert.Empty(t, skipped, "one update per login")

	c.run(t, "", "logout")
	u.next(t, "the logout", notLoggedIn(SourceCodex))
}

func TestRealCodexCLIHonoursTheLocksWriteBackTakes(t *testing.T) {
	for _, lock := range []string{codexLockName, codexFileLockName} {
		t.Run(lock, func(t *testing.T) {
			c := newCodexCLI(t)
			src := sourceNamed(t, c.sources(), SourceCodex)
			held := flock.New(filepath.Join(src.Dir(), lock))
			require.NoError(t, held.Lock())

			cmd := c.command(context.Background(), "sk-proj-SECRET-locked", "login", "--with-api-key")
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				t.Fatalf("codex wrote its login while %s was held (exit: %v)", lock, err)
			case <-time.After(time.Second):
			}
			_, err := os.Stat(src.Path)
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing written under the held lock")

			require.NoError(t, held.Unlock())
			select {
			case err := <-exited:
				require.NoError(t, err)
			case <-time.After(60 * time.Second):
				t.Fatal("codex did not finish after the lock was released")
			}
			l, err := Read(src)
			require.NoError(t, err)
			assert.Equal(t, "sk-proj-SECRET-locked", l.AccessToken)
		})
	}
}

func TestRealCodexCLIAcceptsAWriteBack(t *testing.T) {
	c := newCodexCLI(t)
	src := sourceNamed(t, c.sources(), SourceCodex)
	exp := time.Now().Add(24 * time.Hour).Unix()
	id := fakeJWT(map[string]any{"email": "dev@example.com", "exp": exp,
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-123", "chatgpt_plan_type": "plus"}})
	writeRename(t, src.Path, codexChatGPT(fakeJWT(map[string]any{"exp": exp, "n": 1}), "rt-SECRET-1", id))
	require.Contains(t, c.run(t, "", "login", "status"), "Logged in using ChatGPT", "codex takes the fixture")

	from, err := Read(src)
	require.NoError(t, err)
	to := from
	to.AccessToken = fakeJWT(map[string]any{"exp": exp + 3600, "n": 2})
	to.RefreshToken = "rt-SECRET-2"
	require.NoError(t, Writer{}.WriteBack(context.Background(), src, from, to))

	assert.Contains(t, c.run(t, "", "login", "status"), "Logged in using ChatGPT", "codex takes the written-back file")
	got, err := Read(src)
	require.NoError(t, err)
	assert.Equal(t, to.AccessToken, got.AccessToken)
	assert.Equal(t, "rt-SECRET-2", got.RefreshToken)
	assert.Equal(t, float64(exp+3600), got.ExpiresAt)
	assert.Equal(t, "acct-123", got.AccountID)
}
