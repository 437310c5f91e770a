package authfile

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

// TestNonRegularFilesAreRefused: whatever sits at the auth.json path (or
// at the end of its symlink), reads and updates return at once with
// ErrNotRegular, which names the path and what it is; nothing is written
// over it, and fn is not called. A FIFO used to block open() for ever; a
// link to /dev/zero killed the daemon out of memory.
func TestNonRegularFilesAreRefused(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		what string
	}{
		{"FIFO", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) }, "a named pipe (FIFO)"},
		{"symlink to /dev/zero", func(t *testing.T, path string) { require.NoError(t, os.Symlink("/dev/zero", path)) }, "a symlink to a character device"},
		{"symlink to a FIFO", func(t *testing.T, path string) {
			fifo := filepath.Join(filepath.Dir(path), "elsewhere")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			require.NoError(t, os.Symlink(fifo, path))
		}, "a symlink to a named pipe (FIFO)"},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, "a directory"},
		{"socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
		}, "a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Short: a socket path must fit in sun_path.
			dir, err := os.MkdirTemp("", "af")
			require.NoError(t, err)
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			path := filepath.Join(dir, "auth.json")
			tt.make(t, path)
			before, err := os.Lstat(path)
			require.NoError(t, err)
			s := NewStore(path)

			type result struct {
				f   *File
				err error
			}
			r := testio.Within(t, 5*time.Second, func() result { f, _, err := s.Read(); return result{f, err} })
			assert.Nil(t, r.f)
			assert.ErrorIs(t, r.err, ErrNotRegular)
			assert.ErrorIs(t, r.err, ErrUnusable, "the daemon goes degraded")
			assert.NotErrorIs(t, r.err, ErrCorrupt, "not a corrupt file")
			assert.Contains(t, r.err.Error(), path)
			assert.Contains(t, r.err.Error(), tt.what)

			called := false
			err = testio.Within(t, 5*time.Second, func() error {
				_, err := s.Update(context.Background(), func(f *File) error { called = true; return nil })
				return err
			})
			assert.ErrorIs(t, err, ErrNotRegular)
			assert.False(t, called, "fn is not called")
			after, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, before.Mode(), after.Mode(), "nothing written over it")
			assert.True(t, os.SameFile(before, after))
			assert.Empty(t, tempFiles(t, dir))
		})
	}
}

// TestWriteNeverReplacesANonRegularFile: a FIFO put at the path after the
// read (by a writer that ignores auth.lock) is not renamed over.
func TestWriteNeverReplacesANonRegularFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	_, err := NewStore(path).Update(context.Background(), func(f *File) error {
		require.NoError(t, syscall.Mkfifo(path, 0o600))
		f.Pools["p"] = []pool.Entry{{ID: "aaaaaa", AccessToken: "sk-x"}}
		return nil
	})
	assert.ErrorIs(t, err, ErrNotRegular)
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&fs.ModeNamedPipe, "still the FIFO")
	assert.Empty(t, tempFiles(t, dir))
}

// TestTooLargeIsNotRead: a file over MaxSize is refused from its size
// alone: a sparse file costs no memory and is not read (a 1.2 GB one took
// 1.24 GB of RSS). It is not corrupt and not written over.
func TestTooLargeIsNotRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<30)) // sparse: no blocks
	require.NoError(t, f.Close())
	s := NewStore(path)
	s.MaxSize = 1 << 20

	var before, after syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &before))
	_, v, err := s.Read()
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &after))
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.ErrorIs(t, err, ErrUnusable)
	assert.NotErrorIs(t, err, ErrCorrupt)
	assert.False(t, v.Exists())
	assert.Contains(t, err.Error(), path)
	assert.Less(t, after.Maxrss-before.Maxrss, int64(64<<10), "KiB of peak RSS added by the read: the file was not read")

	called := false
	_, err = s.Update(context.Background(), func(*File) error { called = true; return nil })
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.False(t, called)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(1<<30), fi.Size(), "left alone")
}

// TestMaxSizeAboveTheParsersLimit: a MaxSize above what the parser holds
// (MaxSizeLimit, 2 GiB - 1) counts as MaxSizeLimit, so a file over it is
// ErrTooLarge from its size alone, not read and then found corrupt.
func TestMaxSizeAboveTheParsersLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(MaxSizeLimit+1)) // sparse: no blocks
	require.NoError(t, f.Close())
	s := NewStore(path)
	s.MaxSize = 1 << 40
	assert.Equal(t, int64(MaxSizeLimit), s.maxSize())

	var before, after syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &before))
	_, _, err = s.Read()
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &after))
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.NotErrorIs(t, err, ErrCorrupt)
	assert.Less(t, after.Maxrss-before.Maxrss, int64(64<<10), "KiB of peak RSS added by the read: the file was not read")
}

// TestMaxSizeBoundary: a file of exactly MaxSize is read; one byte more is
// not. The default is DefaultMaxSize.
func TestMaxSizeBoundary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	doc := []byte(`{"credential_pool": {}}` + strings.Repeat(" ", 100))
	require.NoError(t, os.WriteFile(path, doc, 0o600))
	s := NewStore(path)
	s.MaxSize = int64(len(doc))
	_, _, err := s.Read()
	assert.NoError(t, err)
	s.MaxSize--
	_, _, err = s.Read()
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, int64(64<<20), int64(DefaultMaxSize))
	assert.Equal(t, int64(DefaultMaxSize), NewStore(path).maxSize())
}

// TestDeepNestingIsWrittenAsRead: an unknown value nested 9,990 arrays
// deep (in an entry and at the top level) is written back byte for byte,
// not re-indented: re-indenting it made a 20 KB file 199.6 MB. A second
// write gives the same bytes.
func TestDeepNestingIsWrittenAsRead(t *testing.T) {
	deep := strings.Repeat("[", 9990) + strings.Repeat("]", 9990)
	deepObj := strings.Repeat(`{"a":`, 4990) + "1" + strings.Repeat("}", 4990)
	doc := `{"x": ` + deep + `, "credential_pool": {"p": [{"id": "aaaaaa", "deep": ` + deepObj + `, "request_count": 0}]}}`
	path := filepath.Join(t.TempDir(), "auth.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	s := NewStore(path)
	bump := func(f *File) error { f.Pools["p"][0].RequestCount++; return nil }

	_, err := s.Update(context.Background(), bump)
	require.NoError(t, err)
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Less(t, len(first), len(doc)+400, "about the original size")
	assert.Contains(t, string(first), `"x": `+deep+",")
	assert.Contains(t, string(first), `"deep": `+deepObj+",")

	_, err = s.Update(context.Background(), func(*File) error { return nil })
	require.NoError(t, err)
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(first), string(again), "no change, no write")

	f, err := Parse(first)
	require.NoError(t, err)
	f.setUpdatedAt(fixedNow())
	m1, err := f.Marshal()
	require.NoError(t, err)
	f2, err := Parse(m1)
	require.NoError(t, err)
	m2, err := f2.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(m1), string(m2), "a second write is identical")
}

// TestSymlinkToRegularFileIsRead: the checks follow a symlink to a regular
// file as before (TestUpdateSymlink covers the write).
func TestSymlinkToRegularFileIsRead(t *testing.T) {
	dir := t.TempDir()
	target := writeSample(t, dir)
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink(target, link))
	f, v, err := NewStore(link).Read()
	require.NoError(t, err)
	assert.Equal(t, versionOf(readSample(t)), v)
	assert.Len(t, f.Pools["openrouter"], 3)
	var pe *fs.PathError
	_, _, err = NewStore(filepath.Join(dir, "nodir", "x", "auth.json")).Read()
	assert.NoError(t, err, "a missing file is not an error")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o600))
	_, _, err = NewStore(filepath.Join(dir, "file", "auth.json")).Read()
	assert.True(t, errors.As(err, &pe), "other open errors are returned: %v", err)
}
