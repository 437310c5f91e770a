package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
)

// metric is the value of an unlabelled series of the daemon's /metrics.
func metric(t testing.TB, h *harness, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	text, err := h.Client.Metrics(ctx)
	require.NoError(t, err)
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err, "metric line %q", line)
			return f
		}
	}
	t.Fatalf("no series %s in /metrics", name)
	return 0
}

// withFlock holds flock(LOCK_EX) on path while fn runs, on a descriptor fn
// may write to, as Hermes holds auth.lock.
func withFlock(t testing.TB, path string, fn func(f *os.File)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	fn(f)
}

// writeLock replaces the lock file's content, as Hermes writes its pid.
func writeLock(t testing.TB, f *os.File, s string) {
	t.Helper()
	require.NoError(t, f.Truncate(0))
	_, err := f.WriteAt([]byte(s), 0)
	require.NoError(t, err)
}

// snapshot is every event received so far.
func (f *follower) snapshot() []apitype.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apitype.Event(nil), f.evs...)
}
