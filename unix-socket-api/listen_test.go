package socketapi

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/credpool/credpool/internal/testio"
)

func TestListenModes(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		dirMode os.FileMode
	}{
		{"new directory", func(*testing.T, string) {}, 0o700},
		// A 0755 directory of ours (~ with --socket ~/credpool.sock) is
		// fine: the socket is 0600 and every peer is checked. It is left
		// as it is.
		{"existing 0755 directory is left alone", func(t *testing.T, dir string) {
			require.NoError(t, os.Mkdir(dir, 0o755))
			require.NoError(t, os.Chmod(dir, 0o755))
		}, 0o755},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(testio.ShortTempDir(t), "run")
			tc.prepare(t, dir)
			path := filepath.Join(dir, "credpool.sock")
			before := unix.Umask(0o022)
			unix.Umask(before)

			l, err := Listen(path)
			require.NoError(t, err)
			defer l.Close()

			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.ModeSocket, fi.Mode().Type())
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			di, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, tc.dirMode, di.Mode().Perm(), "credpool never narrows a directory it did not create")

			after := unix.Umask(before)
			assert.Equal(t, before, after, "Listen must restore the umask")
		})
	}
}

func TestListenRefuses(t *testing.T) {
	t.Run("path too long", func(t *testing.T) {
		path := filepath.Join(testio.ShortTempDir(t), strings.Repeat("x", 120)+".sock")
		_, err := Listen(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "longer than")
	})
	t.Run("socket already there", func(t *testing.T) {
		path := filepath.Join(testio.ShortTempDir(t), "credpool.sock")
		l, err := Listen(path)
		require.NoError(t, err)
		defer l.Close()
		_, err = Listen(path)
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
	})
	for _, mode := range []os.FileMode{0o777, 0o775, 0o1777} {
		t.Run("directory writable by others "+mode.String(), func(t *testing.T) {
			dir := filepath.Join(testio.ShortTempDir(t), "shared")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, mode|os.ModeSticky&mode))
			if mode&0o1000 != 0 {
				require.NoError(t, os.Chmod(dir, 0o777|os.ModeSticky))
			}
			before, err := os.Stat(dir)
			require.NoError(t, err)
			_, err = Listen(filepath.Join(dir, "credpool.sock"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "writable by")
			after, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, before.Mode(), after.Mode(), "refused, not narrowed (a sticky /tmp stays sticky)")
			_, err = os.Stat(filepath.Join(dir, "credpool.sock"))
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
	t.Run("directory of another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to chown a directory to another user")
		}
		dir := filepath.Join(testio.ShortTempDir(t), "run")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.Chown(dir, 65534, 65534))
		_, err := Listen(filepath.Join(dir, "credpool.sock"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "belongs to uid 65534")
	})
}
