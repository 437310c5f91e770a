package authfile

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
	f, data, err := s.Read()
	require.NoError(t, err)
	assert.Nil(t, data)
	assert.Empty(t, f.Snapshot().Pools)
	assert.Equal(t, filepath.Join(filepath.Dir(s.Path()), "auth.lock"), s.LockPath())
	_, err = os.Stat(filepath.Dir(s.Path()))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a read creates nothing")
}

func TestStoreReadCorruptNamesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"credential_pool": {`), 0o600))
	f, data, err := NewStore(path).Read()
	assert.Nil(t, f)
	assert.Equal(t, `{"credential_pool": {`, string(data), "raw bytes even when corrupt")
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), path)
}

func TestUpdateCreatesFile(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "hermes")
	s := NewStore(filepath.Join(dir, "auth.json"))
	s.Now = fixedNow
	sum, err := s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{ID: "abcdef", Label: "k", AuthType: "api_key", Source: "manual", AccessToken: "sk-1"})
		return nil
	})
	require.NoError(t, err)
	onDisk, err := os.ReadFile(s.Path())
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(onDisk), sum, "Update returns the sum of the bytes on disk")
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

func TestUpdateTightensModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "hermes")
	require.NoError(t, os.Mkdir(dir, 0o755))
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
	assert.Equal(t, fs.FileMode(0o700), di.Mode().Perm(), "our directory is narrowed to 0700")
}

func TestUpdateWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	before, err := os.Stat(path)
	require.NoError(t, err)
	s := NewStore(path)

	sum, err := s.Update(context.Background(), func(f *File) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(readSample(t)), sum, "unchanged: the sum of the bytes on disk")
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "nothing written when nothing changed")

	sum, err = s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"][2].RequestCount = 5
		return nil
	})
	require.NoError(t, err)
	after, err = os.Stat(path)
	require.NoError(t, err)
	assert.False(t, os.SameFile(before, after), "a change replaces the file")
	out, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(out), sum, "written: the sum of the new bytes")
	assert.NotContains(t, string(out), "2026-06-01T12:34:56.789012+00:00", "updated_at is stamped")

	// Missing file and no change: still no file.
	s2 := NewStore(filepath.Join(dir, "other", "auth.json"))
	sum, err = s2.Update(context.Background(), func(f *File) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(nil), sum, "no file: the sum of no bytes")
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
		"empty":        {},
		"whitespace":   []byte("\n\n"),
		"garbage":      []byte("not json at all"),
		"wrong type":   []byte(`{"credential_pool": {"p": [{"priority": "high"}]}}`),
		"double write": append(append([]byte{}, data...), data...),
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
	sum, err := s.Update(context.Background(), func(f *File) error {
		f.Pools["openrouter"][2].LastStatus = pool.StatusExhausted
		return nil
	})
	require.NoError(t, err)
	li, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, li.Mode()&fs.ModeSymlink, "auth.json is still a symlink")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(got), sum, "the target was updated")
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

// pyLock is a Hermes-style process holding fcntl.flock(LOCK_EX) on a file
// until it reads a line on stdin (or holdFor passes).
type pyLock struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

const pyLocker = `
import fcntl, select, sys
fd = open(sys.argv[1], "a+")
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))
fcntl.flock(fd, fcntl.LOCK_UN)
print("released", flush=True)
`

func startPyLock(t *testing.T, lockPath string, holdFor time.Duration) *pyLock {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	cmd := exec.Command(py, "-c", pyLocker, lockPath, strconv.FormatFloat(holdFor.Seconds(), 'f', -1, 64))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &pyLock{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := p.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)
	return p
}

// release lets go of the lock and waits until Python says it has.
func (p *pyLock) release(t *testing.T) {
	t.Helper()
	_, err := io.WriteString(p.stdin, "go\n")
	require.NoError(t, err)
	line, err := p.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "released\n", line)
}

func TestLockWaitsForHermes(t *testing.T) {
	path := writeSample(t, t.TempDir())
	s := NewStore(path)
	py := startPyLock(t, s.LockPath(), 30*time.Second)

	var released atomic.Bool
	type result struct {
		sawReleased bool
		err         error
	}
	done := make(chan result, 1)
	go func() {
		var saw bool
		_, err := s.Update(context.Background(), func(f *File) error {
			saw = released.Load()
			f.Pools["openrouter"][2].RequestCount = 99
			return nil
		})
		done <- result{saw, err}
	}()

	// Give Update time to start waiting; the assertion below holds however
	// long this takes, it only makes the test meaningful.
	select {
	case r := <-done:
		t.Fatalf("Update finished while Python held the lock: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	released.Store(true)
	py.release(t)

	r := <-done
	require.NoError(t, r.err)
	assert.True(t, r.sawReleased, "fn ran only after Python let go")
	f, _, err := s.Read()
	require.NoError(t, err)
	assert.Equal(t, 99, findEntry(t, f, "openrouter", "77aa11").RequestCount)
}

func TestLockTimeout(t *testing.T) {
	path := writeSample(t, t.TempDir())
	s := NewStore(path)
	s.LockTimeout = 150 * time.Millisecond
	py := startPyLock(t, s.LockPath(), 30*time.Second)
	defer py.release(t)

	called := false
	_, err := s.Update(context.Background(), func(f *File) error { called = true; return nil })
	assert.ErrorIs(t, err, ErrLockTimeout)
	assert.Contains(t, err.Error(), s.LockPath(), "the error names the lock file")
	assert.False(t, called)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, readSample(t), got)
}

func TestLockContextCancel(t *testing.T) {
	path := writeSample(t, t.TempDir())
	s := NewStore(path)
	py := startPyLock(t, s.LockPath(), 30*time.Second)
	defer py.release(t)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Lock(ctx)
		errc <- err
	}()
	cancel()
	err := <-errc
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrLockTimeout)
}

// TestHermesSeesOurLock: while Go holds auth.lock, Hermes' flock fails.
func TestHermesSeesOurLock(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	s := NewStore(filepath.Join(t.TempDir(), "auth.json"))
	try := func() string {
		out, err := exec.Command(py, "-c", `
import fcntl, sys
fd = open(sys.argv[1], "a+")
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("busy")
`, s.LockPath()).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	unlock, err := s.Lock(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "busy", try())
	require.NoError(t, unlock())
	require.NoError(t, unlock(), "unlock twice is harmless")
	assert.Equal(t, "free", try())
	_, err = os.Stat(s.LockPath())
	assert.NoError(t, err, "the lock file is never removed")
}

func TestReadUnless(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	s := NewStore(path)
	tests := []struct {
		name      string
		known     func([]byte) bool
		wantParse bool
	}{
		{"nil parses", nil, true},
		{"unknown bytes parse", func([]byte) bool { return false }, true},
		{"known bytes are not parsed", func(b []byte) bool { return string(b) == string(readSample(t)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, data, err := s.ReadUnless(tt.known)
			require.NoError(t, err)
			assert.Equal(t, readSample(t), data)
			if tt.wantParse {
				require.NotNil(t, f)
				assert.NotEmpty(t, f.Pools["openrouter"])
			} else {
				assert.Nil(t, f)
			}
		})
	}

	// A missing file is an empty document whatever known says.
	f, data, err := NewStore(filepath.Join(dir, "none", "auth.json")).ReadUnless(func([]byte) bool { return true })
	require.NoError(t, err)
	assert.Nil(t, data)
	require.NotNil(t, f)
	assert.Empty(t, f.Pools)
}
