// Package testio holds the helpers that tests in many packages need: a temp
// dir short enough for a Unix socket, a buffer that a daemon's goroutines
// and a test can share, and a bound on a call that must not block. It imports nothing of ours, so
// that socketapi's own tests can use it without an import cycle.
package testio

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"
)

// ShortTempDir is a temp dir short enough for a socket path: t.TempDir()
// names can pass the 108-byte sun_path limit.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// SyncBuffer is a bytes.Buffer safe for a process's stderr, a logger on
// several goroutines, and a test reading it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Within runs op and fails the test when it does not return within d: a
// call that blocks (an open of a FIFO) is the bug such a test looks for.
func Within[T any](t testing.TB, d time.Duration, op func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- op() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("did not return within %s", d)
		panic("unreachable")
	}
}
