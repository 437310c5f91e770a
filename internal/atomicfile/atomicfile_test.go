package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	errLook := errors.New("something else is there now")
	tests := []struct {
		name    string
		opts    Options
		render  func(io.Writer) (bool, error)
		want    string // the target's content afterwards
		written bool
		err     error
	}{
		{"replaces", Options{}, func(w io.Writer) (bool, error) { _, err := io.WriteString(w, "new"); return true, err }, "new", true, nil},
		{"nothing to change", Options{}, func(w io.Writer) (bool, error) { _, _ = io.WriteString(w, "half"); return false, nil }, "old", false, nil},
		{"render fails", Options{}, func(w io.Writer) (bool, error) { _, _ = io.WriteString(w, "half"); return true, io.ErrShortWrite }, "old", false, io.ErrShortWrite},
		{"the last look refuses", Options{BeforeRename: func() error { return errLook }},
			func(w io.Writer) (bool, error) { _, err := io.WriteString(w, "new"); return true, err }, "old", false, errLook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
			written, err := Write(path, tt.opts, tt.render)
			assert.ErrorIs(t, err, tt.err)
			if tt.err == nil {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.written, written)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, left, 1, "no temp file is left behind")
			if written {
				fi, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "0600 whatever the old file's mode")
			}
		})
	}
}

// A symlink at the target is replaced, never written through.
func TestWriteReplacesASymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(victim, link))
	require.NoError(t, WriteFile(link, []byte("new"), Options{Pattern: ".link.custom-*"}))
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(got))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
}
