package e2e

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
)

// metric is the value of an unlabelled series of h's /metrics.
func metric(t testing.TB, h *harness, name string) float64 {
	t.Helper()
	return daemontest.Metric(t, h.Client, name)
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
