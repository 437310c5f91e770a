package authfile

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// writeSample puts the sample auth.json at dir/auth.json.
func writeSample(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "auth.json")
	require.NoError(t, os.WriteFile(path, readSample(t), 0o600))
	return path
}

// tempFiles lists leftovers of atomic writes in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".auth.json.tmp-*"))
	require.NoError(t, err)
	return m
}

func fixedNow() time.Time { return time.Date(2026, 6, 2, 3, 4, 5, 600000000, time.UTC) }

func TestStoreReadMissing(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "nope", "auth.json"))
	f, v, err := s.Read()
	require.NoError(t, err)
	assert.False(t, v.Exists(), "no file: the zero Version")
	assert.Empty(t, f.Snapshot().Pools)
	assert.Equal(t, filepath.Join(filepath.Dir(s.Path()), "auth.lock"), s.LockPath())
	_, err = os.Stat(filepath.Dir(s.Path()))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a read creates nothing")
}

func TestStoreReadCorruptNamesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"credential_pool": {`), 0o600))
	f, v, err := NewStore(path).Read()
	assert.Nil(t, f)
	assert.Equal(t, versionOf([]byte(`{"credential_pool": {`)), v, "the Version of the bytes even when corrupt")
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), path)
}

func TestUpdateCreatesFile(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "hermes")
	s := NewStore(filepath.Join(dir, "auth.json"))
	s.Now = fixedNow
	v, err := s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{ID: "abcdef", Label: "k", AuthType: "api_key", Source: "manual", AccessToken: "sk-1"})
		return nil
	})
	require.NoError(t, err)
	onDisk, err := os.ReadFile(s.Path())
	require.NoError(t, err)
	assert.Equal(t, versionOf(onDisk), v, "Update returns the Version of the bytes on disk")
	assert.Contains(t, string(onDisk), `"updated_at": "2026-06-02T03:04:05.600000+00:00"`)

	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "file 0600 under umask 022")
	di, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), di.Mode().Perm(), "directory created 0700")
	_, err = os.Stat(s.LockPath())
	assert.NoError(t, err, "the lock file stays")
	assert.Empty(t, tempFiles(t, dir))
}

// TestUpdateLeavesExistingDirectoryMode: a directory credpool did not
// create keeps its mode (it may be $HOME, or shared on purpose); the file
// is narrowed to 0600. Until this rule, an existing directory of ours was
// narrowed to 0700, which once changed $HOME from 0755.
func TestUpdateLeavesExistingDirectoryMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	for _, mode := range []fs.FileMode{0o755, 0o750, 0o700 | fs.ModeSticky} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hermes")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, mode))
			path := writeSample(t, dir)
			require.NoError(t, os.Chmod(path, 0o644))
			_, err := NewStore(path).Update(context.Background(), func(f *File) error {
				f.Pools["openrouter"][0].RequestCount++
				return nil
			})
			require.NoError(t, err)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
			di, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, mode, di.Mode()&(fs.ModePerm|fs.ModeSticky), "the directory's mode is left alone")
		})
	}
}

func TestUpdateWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	before, err := os.Stat(path)
	require.NoError(t, err)
	s := NewStore(path)

	v, err := s.Update(context.Background(), func(f *File) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, versionOf(readSample(t)), v, "unchanged: the Version of the bytes on disk")
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "nothing written when nothing changed")

	v, err = s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"][2].RequestCount = 5
		return nil
	})
	require.NoError(t, err)
	after, err = os.Stat(path)
	require.NoError(t, err)
	assert.False(t, os.SameFile(before, after), "a change replaces the file")
	out, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, versionOf(out), v, "written: the Version of the new bytes")
	assert.NotContains(t, string(out), "2026-06-01T12:34:56.789012+00:00", "updated_at is stamped")

	// Missing file and no change: still no file.
	s2 := NewStore(filepath.Join(dir, "other", "auth.json"))
	v, err = s2.Update(context.Background(), func(f *File) error { return nil })
	require.NoError(t, err)
	assert.False(t, v.Exists(), "no file: the zero Version")
	_, err = os.Stat(s2.Path())
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestUpdateFnErrorWritesNothing(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	boom := errors.New("boom")
	_, err := NewStore(path).Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"] = nil
		return boom
	})
	assert.ErrorIs(t, err, boom)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, readSample(t), got)
}

func TestUpdateNeverWritesOverCorrupt(t *testing.T) {
	data := readSample(t)
	variants := map[string][]byte{
		"empty":               {},
		"whitespace":          []byte("\n\n"),
		"garbage":             []byte("not json at all"),
		"entry not an object": []byte(`{"credential_pool": {"p": [{"id": "aaaaaa"}, "sk-x"]}}`),
		"pool not an array":   []byte(`{"credential_pool": {"p": {"id": "aaaaaa"}}}`),
		"double write":        append(append([]byte{}, data...), data...),
	}
	for _, n := range []int{1, 57, 700, 1500, len(data) / 2, len(data) - 2} {
		variants["truncated at "+strconv.Itoa(n)] = data[:n]
	}
	for name, content := range variants {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "auth.json")
			require.NoError(t, os.WriteFile(path, content, 0o600))
			called := false
			_, err := NewStore(path).Update(context.Background(), func(f *File) error {
				called = true
				return nil
			})
			assert.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), path)
			assert.False(t, called, "fn is not called on a corrupt file")
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, content, got, "the file is left as it was")
			assert.Empty(t, tempFiles(t, dir))
		})
	}
}

func TestUpdateSymlink(t *testing.T) {
	root := t.TempDir()
	linkDir := filepath.Join(root, "hermes")
	realDir := filepath.Join(root, "dotfiles")
	require.NoError(t, os.Mkdir(linkDir, 0o700))
	require.NoError(t, os.Mkdir(realDir, 0o700))
	target := writeSample(t, realDir)
	link := filepath.Join(linkDir, "auth.json")
	require.NoError(t, os.Symlink("../dotfiles/auth.json", link))

	s := NewStore(link)
	v, err := s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"][2].LastStatus = pool.StatusExhausted
		return nil
	})
	require.NoError(t, err)
	li, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, li.Mode()&fs.ModeSymlink, "auth.json is still a symlink")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, versionOf(got), v, "the target was updated")
	assert.NotEqual(t, string(readSample(t)), string(got), "the target was updated")
	assert.Equal(t, filepath.Join(linkDir, "auth.lock"), s.LockPath(), "the lock is beside the link")
	_, err = os.Stat(filepath.Join(linkDir, "auth.lock"))
	assert.NoError(t, err)
	assert.Empty(t, tempFiles(t, linkDir))
	assert.Empty(t, tempFiles(t, realDir))
}

func TestFailedWriteLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	_, err := NewStore(path).Update(context.Background(), func(f *File) error {
		// Between our read and our rename, something puts a non-empty
		// directory where auth.json goes: the rename must fail.
		require.NoError(t, os.MkdirAll(filepath.Join(path, "sub"), 0o700))
		f.Pools["p"] = []pool.Entry{{ID: "aaaaaa", AccessToken: "x"}}
		return nil
	})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrCorrupt)
	assert.Empty(t, tempFiles(t, dir), "the temp file is removed")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "nothing replaced it")
}

// TestFailedMarshalLeavesFileAndNoTempFile: the document is marshalled
// straight into the temp file, so a value that cannot be written, found
// after most of the document was, must leave the temp file removed and
// auth.json as it was.
func TestFailedMarshalLeavesFileAndNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	_, err := NewStore(path).Update(context.Background(), func(f *File) error {
		entries := f.Pools["openrouter"]
		require.NotEmpty(t, entries)
		e := &entries[len(entries)-1]
		e.RequestCount++
		e.Extra = map[string]json.RawMessage{"broken": json.RawMessage(`{"a":`)}
		return nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not valid JSON")
	assert.Empty(t, tempFiles(t, dir), "the temp file is removed")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(readSample(t)), string(got), "auth.json untouched")
}

// TestUpdateRereadsDisk: changes another writer made between our Read and
// our Update survive, because Update applies fn to what is on disk now.
func TestUpdateRereadsDisk(t *testing.T) {
	tests := []struct {
		name  string
		other func(f *File)
		ours  func(f *File)
		check func(t *testing.T, f *File)
	}{
		{
			name: "an entry added by another writer survives",
			other: func(f *File) {
				f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{ID: "fe0001", Label: "theirs", AuthType: "api_key", Source: "manual", AccessToken: "sk-theirs"})
			},
			ours: func(f *File) { findEntryIn(f, "openrouter", "77aa11").RequestCount++ },
			check: func(t *testing.T, f *File) {
				assert.Equal(t, "theirs", findEntry(t, f, "openrouter", "fe0001").Label)
				assert.Equal(t, 1, findEntry(t, f, "openrouter", "77aa11").RequestCount)
			},
		},
		{
			name: "a cooldown set by another writer is not undone by a counter update",
			other: func(f *File) {
				e := findEntryIn(f, "openrouter", "77aa11")
				e.StatusFields = pool.StatusFields{LastStatus: pool.StatusExhausted, LastStatusAt: 1780000000,
					LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorResetAt: 1780003600}
			},
			ours: func(f *File) { findEntryIn(f, "openrouter", "77aa11").RequestCount += 3 },
			check: func(t *testing.T, f *File) {
				e := findEntry(t, f, "openrouter", "77aa11")
				assert.Equal(t, pool.StatusFields{LastStatus: pool.StatusExhausted, LastStatusAt: 1780000000,
					LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorResetAt: 1780003600}, e.StatusFields)
				assert.Equal(t, 3, e.RequestCount)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSample(t, t.TempDir())
			s := NewStore(path)
			stale, _, err := s.Read()
			require.NoError(t, err)
			require.NotNil(t, stale)

			_, err = NewStore(path).Update(context.Background(), func(f *File) error { tt.other(f); return nil })
			require.NoError(t, err)
			_, err = s.Update(context.Background(), func(f *File) error { tt.ours(f); return nil })
			require.NoError(t, err)

			f, _, err := s.Read()
			require.NoError(t, err)
			tt.check(t, f)
			assert.Equal(t, "kept verbatim by every writer", string(findEntry(t, f, "openrouter", "77aa11").Extra["x_team_note"][1:30]))
		})
	}
}

func findEntryIn(f *File, provider, id string) *pool.Entry {
	for i := range f.Pools[provider] {
		if f.Pools[provider][i].ID == id {
			return &f.Pools[provider][i]
		}
	}
	panic("no entry " + id)
}

func TestReadUnless(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	s := NewStore(path)
	sample := versionOf(readSample(t))
	tests := []struct {
		name      string
		known     Version
		wantParse bool
	}{
		{"zero parses", Version{}, true},
		{"another version parses", versionOf([]byte("{}")), true},
		{"the known version is not parsed", sample, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, v, err := s.ReadUnless(tt.known)
			require.NoError(t, err)
			assert.Equal(t, sample, v)
			if tt.wantParse {
				require.NotNil(t, f)
				assert.NotEmpty(t, f.Pools["openrouter"])
				assert.Equal(t, sample, f.Version())
			} else {
				assert.Nil(t, f)
			}
		})
	}

	// A missing file is an empty document with the zero Version, whatever
	// is known.
	f, v, err := NewStore(filepath.Join(dir, "none", "auth.json")).ReadUnless(sample)
	require.NoError(t, err)
	assert.False(t, v.Exists())
	require.NotNil(t, f)
	assert.Empty(t, f.Pools)
}
