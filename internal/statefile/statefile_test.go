package statefile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/credpool/credpool/internal/regularfile"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

func sample() State {
	return State{Pool: pool.State{Tombstones: []pool.TombstoneState{{Provider: "openrouter", ID: "abc123", Generation: "g1", RemovedAt: 1780000000}}}}
}

func TestWriteThenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credpool-state.json")
	st, err := Load(path)
	require.NoError(t, err, "a missing file is the empty state")
	assert.Equal(t, State{}, st)

	require.NoError(t, Write(path, sample()))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	st, err = Load(path)
	require.NoError(t, err)
	want := sample()
	want.Version = version
	assert.Equal(t, want, st)
}

// TestCorruptIsSetAsideWithoutWritingOverAnEarlierCopy: a file that does
// not parse, is of another version or is over MaxSize is moved to the first
// free .corrupt name, and a second bad file does not replace the first's
// copy.
func TestCorruptIsSetAsideWithoutWritingOverAnEarlierCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credpool-state.json")
	bad := []string{`{"version": 1, "pool": `, `{"version": 2, "pool": {}}`, `not json`}
	for i, content := range bad {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		st, err := Load(path)
		require.ErrorIs(t, err, ErrSetAside, content)
		assert.Equal(t, State{}, st)
		aside := path + ".corrupt"
		if i > 0 {
			aside += "." + string(rune('1'+i))
		}
		assert.Contains(t, err.Error(), aside)
		got, rerr := os.ReadFile(aside)
		require.NoError(t, rerr, "set aside as %s", aside)
		assert.Equal(t, content, string(got))
		assert.NoFileExists(t, path)
	}
	first, err := os.ReadFile(path + ".corrupt")
	require.NoError(t, err)
	assert.Equal(t, bad[0], string(first), "the first copy is kept")

	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(MaxSize+1)) // sparse
	require.NoError(t, f.Close())
	_, err = Load(path)
	assert.ErrorIs(t, err, ErrSetAside, "over MaxSize is as good as corrupt")
	assert.FileExists(t, path+".corrupt.4")
}

// TestNotARegularFileIsLeftAlone: a FIFO at the path is not waited on, not
// moved and not an ErrSetAside (the caller must not take it for an empty
// state it may write over).
func TestNotARegularFileIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credpool-state.json")
	require.NoError(t, unix.Mkfifo(path, 0o600))
	err := testio.Within(t, 2*time.Second, func() error { _, err := Load(path); return err })
	assert.ErrorIs(t, err, regularfile.ErrNotRegular)
	assert.NotErrorIs(t, err, ErrSetAside)
	fi, lerr := os.Lstat(path)
	require.NoError(t, lerr)
	assert.NotZero(t, fi.Mode()&fs.ModeNamedPipe, "still the FIFO")
	assert.NoFileExists(t, path+".corrupt")
}

// TestStateHoldsNoToken: the file holds the fingerprints pool exports.
func TestStateHoldsNoToken(t *testing.T) {
	p := pool.New(pool.Config{})
	p.Load(pool.Snapshot{Pools: map[string][]pool.Entry{"openrouter": {
		{ID: "aaaaaa", Label: "a", AuthType: "api_key", Source: "manual", AccessToken: "sk-or-v1-SECRET-state-1"},
	}}})
	_, _, err := p.Remove("openrouter", "aaaaaa")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "credpool-state.json")
	require.NoError(t, Write(path, State{Pool: p.ExportState()}))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "aaaaaa", "the tombstone is there")
	assert.False(t, strings.Contains(string(raw), "SECRET"), "no token")
}
