package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreateToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "gateway.token")
	tok, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^cpgw-[A-Za-z0-9_-]{43}$`), tok)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "a directory it makes is 0700")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, tok+"\n", string(data))

	again, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Equal(t, tok, again, "the token survives restarts")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp file left behind")

	other, err := LoadOrCreateToken(filepath.Join(dir, "other.token"))
	require.NoError(t, err)
	assert.NotEqual(t, tok, other)
}

func TestLoadOrCreateTokenLeavesExistingDirectoryAlone(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	_, err := LoadOrCreateToken(filepath.Join(dir, "gateway.token"))
	require.NoError(t, err)
	di, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), di.Mode().Perm())
}

func TestLoadOrCreateTokenRefuses(t *testing.T) {
	const content = "cpgw-" + marker + "-existing-token-value\n"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"group-readable", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte(content), 0o640)) }, "mode 0640"},
		{"world-readable", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, []byte(content), 0o644)) }, "chmod 600"},
		{"symlink", func(t *testing.T, p string) {
			target := p + ".real"
			require.NoError(t, os.WriteFile(target, []byte(content), 0o600))
			require.NoError(t, os.Symlink(target, p))
		}, "symlink"},
		{"dangling symlink", func(t *testing.T, p string) { require.NoError(t, os.Symlink(p+".nowhere", p)) }, "symlink"},
		{"directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, "not a regular file"},
		{"empty", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, nil, 0o600)) }, "does not hold one token"},
		{"two lines", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, []byte("cpgw-aaaaaaaaaaaaaaaa\ncpgw-bbbbbbbbbbbbbbbb\n"), 0o600))
		}, "does not hold one token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateway.token")
			tc.setup(t, path)
			before, _ := os.Lstat(path)
			beforeData, _ := os.ReadFile(path)
			_, err := LoadOrCreateToken(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), marker, "an error never quotes the token")
			after, _ := os.Lstat(path)
			afterData, _ := os.ReadFile(path)
			assert.Equal(t, before.Mode(), after.Mode(), "left as it was")
			assert.Equal(t, beforeData, afterData, "left as it was")
		})
	}
}
