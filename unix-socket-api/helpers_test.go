package socketapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credpool/credpool/internal/testio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a Server on a real socket.
type testServer struct {
	path string
	logs *testio.SyncBuffer
	hc   *http.Client
	tr   *http.Transport
	stop func() // ends Serve and checks it returned nil
}

// fixedNow is the clock of every test server: 1700000000.5.
func fixedNow() time.Time { return time.Unix(1700000000, 500_000_000) }

func startServer(t testing.TB, b Backend, opts ServerOptions) *testServer {
	t.Helper()
	path := filepath.Join(testio.ShortTempDir(t), "run", "credpool.sock")
	l, err := Listen(path)
	require.NoError(t, err)
	logs := &testio.SyncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	srv := NewServer(b, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	ts := &testServer{path: path, logs: logs, tr: tr, hc: &http.Client{Transport: tr}}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			tr.CloseIdleConnections()
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after its context ended")
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// do sends a raw request and returns status, headers and body.
func (ts *testServer) do(t testing.TB, method, path string, body io.Reader, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://credpool"+path, body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}
