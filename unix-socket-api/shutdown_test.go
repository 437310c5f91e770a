package socketapi

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/testio"
)

// serveOnly starts Serve and returns its cancel and result channel, for
// tests that watch Serve itself.
func serveOnly(t *testing.T, f *fakeBackend, opts ServerOptions) (string, context.CancelFunc, <-chan error) {
	path := filepath.Join(testio.ShortTempDir(t), "credpool.sock")
	l, err := Listen(path)
	require.NoError(t, err)
	opts.Logger = discardLogger()
	srv := NewServer(f, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	return path, cancel, done
}

// shutdownDuringReport starts a report that blocks in the backend until
// f.reportGate closes, then begins shutdown with the given grace; errc gets
// the report's result and done Serve's.
func shutdownDuringReport(t *testing.T, grace time.Duration) (f *fakeBackend, path string, done <-chan error, errc <-chan error) {
	f = newFake()
	f.reportGate, f.reportStarted = make(chan struct{}), make(chan struct{}, 1)
	path, cancel, done := serveOnly(t, f, ServerOptions{ShutdownGrace: grace})
	c := NewClient(path)
	t.Cleanup(c.Close)
	reportErr := make(chan error, 1)
	go func() {
		_, err := c.Report(context.Background(), "openrouter", apitype.ReportRequest{StatusCode: 429})
		reportErr <- err
	}()
	<-f.reportStarted
	cancel()
	return f, path, done, reportErr
}

// A request in flight when shutdown starts finishes within the grace.
func TestShutdownFinishesRequestInFlight(t *testing.T) {
	f, path, done, errc := shutdownDuringReport(t, 10*time.Second)
	// New connections are refused once shutdown has begun.
	require.Eventually(t, func() bool {
		conn, err := net.Dial("unix", path)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 5*time.Second, 5*time.Millisecond)
	close(f.reportGate)
	assert.NoError(t, <-errc)
	assert.NoError(t, <-done)
}

// A handler that outlives the grace has its connection cut, and Serve still
// returns only once the handler has returned.
func TestShutdownGraceCutsOffAndWaitsForHandler(t *testing.T) {
	f, _, done, errc := shutdownDuringReport(t, 20*time.Millisecond)
	err := <-errc // the connection was closed after the grace
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), "%v", err)
	select {
	case <-done:
		t.Fatal("Serve returned while a handler was still running")
	default:
	}
	close(f.reportGate)
	assert.NoError(t, <-done)
}
