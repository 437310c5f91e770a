package authfile

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credpool/credpool/internal/testio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

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

// TestLockFileHoldsPID: like Hermes, the holder of auth.lock writes its
// PID into it and empties it on release; the file stays, 0600.
func TestLockFileHoldsPID(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "auth.json"))
	for name, lock := range map[string]func() (func() error, error){
		"Lock":    func() (func() error, error) { return s.Lock(context.Background()) },
		"TryLock": s.TryLock,
	} {
		t.Run(name, func(t *testing.T) {
			unlock, err := lock()
			require.NoError(t, err)
			held, err := os.ReadFile(s.LockPath())
			require.NoError(t, err)
			assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(held), "our PID while held")
			require.NoError(t, unlock())
			released, err := os.ReadFile(s.LockPath())
			require.NoError(t, err)
			assert.Empty(t, released, "emptied on release")
			fi, err := os.Stat(s.LockPath())
			require.NoError(t, err, "never deleted")
			assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
		})
	}
	// Update holds it the same way.
	_, err := s.Update(context.Background(), func(*File) error {
		held, err := os.ReadFile(s.LockPath())
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(held))
		return nil
	})
	require.NoError(t, err)
}

// TestTryLockBusy: while another process (Python's fcntl.flock, as Hermes
// takes it) holds auth.lock, TryLock, TryUpdate and RemoveStaleTemps
// return ErrLockBusy at once, having changed nothing; once it lets go they
// work.
func TestTryLockBusy(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	stale := filepath.Join(dir, ".auth.json.tmp-123")
	require.NoError(t, os.WriteFile(stale, []byte("{}"), 0o600))
	s := NewStore(path)
	py := startPyLock(t, s.LockPath(), 30*time.Second)

	err := testio.Within(t, 2*time.Second, func() error { _, err := s.TryLock(); return err })
	assert.ErrorIs(t, err, ErrLockBusy, "at once, not after a wait")
	assert.Contains(t, err.Error(), s.LockPath())

	called := false
	err = testio.Within(t, 2*time.Second, func() error {
		_, err := s.TryUpdate(func(f *File) error { called = true; f.Pools["openrouter"][0].RequestCount++; return nil })
		return err
	})
	assert.ErrorIs(t, err, ErrLockBusy)
	assert.False(t, called, "fn is not called without the lock")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, readSample(t), got)

	n, err := s.RemoveStaleTemps()
	assert.ErrorIs(t, err, ErrLockBusy)
	assert.Zero(t, n)
	assert.FileExists(t, stale, "not removed while the lock is held")

	py.release(t)
	v, err := s.TryUpdate(func(f *File) error { f.Pools["openrouter"][0].RequestCount++; return nil })
	require.NoError(t, err)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, versionOf(got), v)
	n, err = s.RemoveStaleTemps()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NoFileExists(t, stale)
}

// TestLockFileSymlinkIsNotFollowed: a symlink at auth.lock is refused, and
// its target neither created nor truncated.
func TestLockFileSymlinkIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	require.NoError(t, os.WriteFile(target, []byte("keep me"), 0o600))
	s := NewStore(filepath.Join(dir, "auth.json"))
	require.NoError(t, os.Symlink(target, s.LockPath()))
	dangling := NewStore(filepath.Join(t.TempDir(), "auth.json"))
	require.NoError(t, os.Symlink(filepath.Join(dir, "created-through-link"), dangling.LockPath()))

	for _, st := range []*Store{s, dangling} {
		_, err := st.TryLock()
		assert.ErrorIs(t, err, ErrNotRegular)
		assert.Contains(t, err.Error(), "symlink")
		_, err = st.Lock(context.Background())
		assert.ErrorIs(t, err, ErrNotRegular)
		_, err = st.Update(context.Background(), func(*File) error { t.Fatal("fn called"); return nil })
		assert.ErrorIs(t, err, ErrNotRegular)
	}
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(got))
	assert.NoFileExists(t, filepath.Join(dir, "created-through-link"))
}

// TestLockHolder: the PID the holder wrote (credpool's own, or Hermes'
// "PID\n"), and nothing from a free lock, a symlink (not followed) or a
// FIFO (not waited on).
func TestLockHolder(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(filepath.Join(dir, "auth.json"))
	_, ok := s.LockHolder()
	assert.False(t, ok, "no lock file")
	assert.NoFileExists(t, s.LockPath(), "and none created")

	unlock, err := s.Lock(context.Background())
	require.NoError(t, err)
	pid, ok := s.LockHolder()
	assert.True(t, ok)
	assert.Equal(t, os.Getpid(), pid)
	require.NoError(t, unlock())
	_, ok = s.LockHolder()
	assert.False(t, ok, "a free lock is empty")

	for content, want := range map[string]int{"4242\n": 4242, "4242": 4242, " 77 \n": 77, "x\n": 0, "-3\n": 0, "0\n": 0} {
		require.NoError(t, os.WriteFile(s.LockPath(), []byte(content), 0o600))
		pid, ok := s.LockHolder()
		assert.Equal(t, want != 0, ok, "%q", content)
		assert.Equal(t, want, pid, "%q", content)
	}

	linked := NewStore(filepath.Join(t.TempDir(), "auth.json"))
	require.NoError(t, os.Symlink(s.LockPath(), linked.LockPath()))
	require.NoError(t, os.WriteFile(s.LockPath(), []byte("4242\n"), 0o600))
	_, ok = linked.LockHolder()
	assert.False(t, ok, "a symlink is not followed")

	fifo := NewStore(filepath.Join(t.TempDir(), "auth.json"))
	require.NoError(t, unix.Mkfifo(fifo.LockPath(), 0o600))
	err = testio.Within(t, 2*time.Second, func() error {
		if _, ok := fifo.LockHolder(); ok {
			return errors.New("a FIFO named a holder")
		}
		return nil
	})
	assert.NoError(t, err, "a FIFO is not waited on")
}
