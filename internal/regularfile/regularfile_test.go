package regularfile

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/credpool/credpool/internal/testio"
)

type result struct {
	data []byte
	fi   fs.FileInfo
	err  error
}

// TestReadRefusesWhatIsNotARegularFile: whatever is at the path (or at the
// end of its symlink), Read returns at once with a *NotRegularError that
// says what it is.
func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		what string
	}{
		{"FIFO", func(t *testing.T, path string) { require.NoError(t, unix.Mkfifo(path, 0o600)) }, "a named pipe (FIFO)"},
		{"symlink to /dev/zero", func(t *testing.T, path string) { require.NoError(t, os.Symlink("/dev/zero", path)) }, "a symlink to a character device"},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, "a directory"},
		{"socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
		}, "a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(testio.ShortTempDir(t), "f")
			tt.make(t, path)
			r := testio.Within(t, 2*time.Second, func() result { d, fi, err := Read(path, 1<<20); return result{d, fi, err} })
			require.ErrorIs(t, r.err, ErrNotRegular)
			var nr *NotRegularError
			require.ErrorAs(t, r.err, &nr)
			assert.Equal(t, path, nr.Path)
			assert.Equal(t, tt.what, nr.What)
			assert.Equal(t, path+" is "+tt.what, r.err.Error())
			if tt.name != "socket" { // a socket cannot be opened
				require.NotNil(t, nr.Info, "what was opened")
				assert.False(t, nr.Info.Mode().IsRegular())
			}
			assert.Nil(t, r.data)
		})
	}
}

// TestReadBounds: a file of exactly limit bytes is read; over it, a sparse
// file of a gigabyte included, is a *TooLargeError from its size alone.
func TestReadBounds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o600))
	data, fi, err := Read(path, 10)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(data))
	assert.Equal(t, int64(10), fi.Size())
	_, _, err = Read(path, 9)
	require.ErrorIs(t, err, ErrTooLarge)
	var tl *TooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, TooLargeError{Path: path, Size: 10, Limit: 9}, *tl)

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	data, _, err = Read(empty, 10)
	require.NoError(t, err)
	assert.Empty(t, data)

	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<30))
	require.NoError(t, f.Close())
	_, _, err = Read(sparse, 1<<20)
	assert.ErrorIs(t, err, ErrTooLarge)

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(path, link))
	data, _, err = Read(link, 10)
	require.NoError(t, err, "a symlink to a regular file is followed")
	assert.Equal(t, "0123456789", string(data))
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Read(filepath.Join(dir, "none"), 10)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	dangling := filepath.Join(dir, "dangling")
	require.NoError(t, os.Symlink(filepath.Join(dir, "gone"), dangling))
	_, _, err = Read(dangling, 10)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestOpenNoFollow: with O_NOFOLLOW a symlink is refused (ELOOP) and its
// target neither created nor truncated; O_CREAT makes the file 0600.
func TestOpenNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	require.NoError(t, os.WriteFile(target, []byte("keep me"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	_, err := Open(link, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW)
	assert.ErrorIs(t, err, unix.ELOOP)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(got))

	created := filepath.Join(dir, "new")
	f, err := Open(created, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(created)
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&^0o600, "nothing beyond 0600 (the umask may narrow it)")
}

// TestNotRegularOfALookedAtMode: NotRegular describes what a caller found
// itself (an Lstat before a rename).
func TestNotRegularOfALookedAtMode(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(fifo, link))
	li, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, "a symlink", NotRegular(link, li.Mode()).What)
	fi, err := os.Stat(link)
	require.NoError(t, err)
	assert.Equal(t, "a symlink to a named pipe (FIFO)", NotRegular(link, fi.Mode()).What)
	assert.Equal(t, "a named pipe (FIFO)", NotRegular(fifo, fi.Mode()).What)
}
