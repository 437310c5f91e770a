// Package testio holds the two file and output helpers that tests in many
// packages need: a temp dir short enough for a Unix socket, and a buffer that
// a daemon's goroutines and a test can share. It imports nothing of ours, so
// that socketapi's own tests can use it without an import cycle.
package testio

import (
	"bytes"
	"os"
	"sync"
	"testing"
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
