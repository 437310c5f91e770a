package socketapi

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

func newTestClient(t *testing.T, ts *testServer) *Client {
	c := NewClient(ts.path)
	t.Cleanup(c.Close)
	return c
}

func TestClientAgainstServer(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	ctx := context.Background()

	h, err := c.Health(ctx)
	require.NoError(t, err)
	at := 1700000000.0
	assert.Equal(t, apitype.Health{Status: "ok", Version: "test", AuthFile: "/tmp/auth.json", Pools: 1, Entries: 3, LastReloadAt: &at}, h)

	pools, err := c.Pools(ctx)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	// The client reads exactly the server's dialect: one set of wire types.
	assert.Equal(t, apitype.PoolFrom(f.pools["openrouter"]), pools[0])

	p, err := c.Pool(ctx, "openrouter")
	require.NoError(t, err)
	assert.Equal(t, apitype.PoolFrom(f.pools["openrouter"]), p)

	sel, err := c.Select(ctx, "openrouter", apitype.SelectRequest{Lease: true, WaitMS: 250})
	require.NoError(t, err)
	assert.Equal(t, secretAccess, sel.Credential.AccessToken)
	require.NotNil(t, sel.Lease)
	assert.Equal(t, apitype.Lease{ID: "lease-1", ExpiresAt: 1700000600}, *sel.Lease)

	rep, err := c.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "a1b2c3", StatusCode: 429, ResetAt: "1.7e9", RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"})
	require.NoError(t, err)
	until := 1700003600.0
	assert.Equal(t, &apitype.Marked{ID: "a1b2c3", Status: "exhausted", Until: &until}, rep.Marked)
	assert.True(t, rep.Persisted)
	require.NotNil(t, rep.Next)
	assert.Equal(t, "d4e5f6", rep.Next.ID)

	require.NoError(t, c.Release(ctx, "lease-1"))

	prio := 0
	e, err := c.AddEntry(ctx, "openrouter", apitype.AddRequest{Label: "new", AccessToken: secretAdded, Priority: &prio})
	require.NoError(t, err)
	assert.Equal(t, "fff000", e.Entry.ID)
	assert.Equal(t, 0, e.Entry.Priority)

	removed, err := c.RemoveEntry(ctx, "openrouter", "backup")
	require.NoError(t, err)
	assert.Equal(t, "d4e5f6", removed.Removed.ID)

	rr, err := c.Reset(ctx, "openrouter", "")
	n := rr.Reset
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	text, err := c.Metrics(ctx)
	require.NoError(t, err)
	assert.Contains(t, text, "credpool_selections_total")

	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, apitype.SelectRequest{Lease: true, WaitMS: 250}, f.selects[0])
	// The flexible fields keep their text both ways.
	assert.Equal(t, apitype.FlexString("1.7e9"), f.reports[0].ResetAt)
	assert.Equal(t, apitype.FlexString("Wed, 21 Oct 2015 07:28:00 GMT"), f.reports[0].RetryAfter)
}

func TestClientErrors(t *testing.T) {
	f := newFake()
	f.none, f.nextAt = true, 1700000100
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	ctx := context.Background()

	_, err := c.Select(ctx, "openrouter", apitype.SelectRequest{})
	var apiErr *apitype.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, pool.ErrNoneAvailable)
	assert.Equal(t, 503, apiErr.Status)
	require.NotNil(t, apiErr.NextAvailableAt)
	require.NotNil(t, apiErr.RetryAfterS)
	assert.Equal(t, 1700000100.0, *apiErr.NextAvailableAt)
	assert.Equal(t, 99.5, *apiErr.RetryAfterS)

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown pool", func() error { _, err := c.Pool(ctx, "nope"); return err }, pool.ErrUnknownPool},
		{"unknown lease", func() error { return c.Release(ctx, "nope") }, pool.ErrUnknownLease},
		{"unknown entry", func() error { _, err := c.RemoveEntry(ctx, "openrouter", "a/b c"); return err }, pool.ErrNoTarget},
		{"ambiguous", func() error { _, err := c.RemoveEntry(ctx, "openrouter", "dup"); return err }, pool.ErrAmbiguousTarget},
		{"bad input", func() error { _, err := c.Report(ctx, "openrouter", apitype.ReportRequest{StatusCode: 7}); return err }, pool.ErrBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorAs(t, err, &apiErr)
		})
	}
}

// A label with a slash and a space reaches the backend whole.
func TestClientEscapesPathValues(t *testing.T) {
	f := newFake()
	f.pools["openrouter"].Entries[0].Label = "team a/b"
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	e, err := c.RemoveEntry(context.Background(), "openrouter", "team a/b")
	require.NoError(t, err)
	assert.Equal(t, "a1b2c3", e.Removed.ID)
}

func TestClientDaemonNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(testio.ShortTempDir(t), "missing.sock"))
	c.DialRetry = 50 * time.Millisecond
	defer c.Close()
	_, err := c.Health(context.Background())
	assert.ErrorIs(t, err, ErrDaemonNotRunning)
	assert.Contains(t, err.Error(), "missing.sock")

	// A socket file nobody listens on: connection refused.
	dir := testio.ShortTempDir(t)
	path := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	c2 := NewClient(path)
	c2.DialRetry = 50 * time.Millisecond
	defer c2.Close()
	_, err = c2.Health(context.Background())
	assert.ErrorIs(t, err, ErrDaemonNotRunning)
}

// A client started before the daemon waits for the socket to appear.
func TestClientDialRetriesUntilDaemonStarts(t *testing.T) {
	path := filepath.Join(testio.ShortTempDir(t), "run", "credpool.sock")
	c := NewClient(path)
	defer c.Close()
	started := make(chan func(), 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // the client is dialling by now
		l, err := Listen(path)
		if err != nil {
			started <- nil
			return
		}
		srv := NewServer(newFake(), ServerOptions{Logger: discardLogger()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = srv.Serve(ctx, l); close(done) }()
		started <- func() { cancel(); <-done }
	}()
	h, err := c.Health(context.Background())
	stop := <-started
	require.NotNil(t, stop, "Listen failed")
	defer stop()
	require.NoError(t, err)
	assert.Equal(t, "ok", h.Status)
	c.Close()
}

func TestClientEvents(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	c := newTestClient(t, ts)
	ctx, cancel := context.WithCancel(context.Background())
	events, errc := c.Events(ctx)
	<-f.subscribed
	f.publish(apitype.Event{Type: "entry.recovered", At: 1, Provider: "openrouter", ID: "a1b2c3", Reason: "reauth"})
	ev := <-events
	assert.Equal(t, apitype.Event{Type: "entry.recovered", At: 1, Provider: "openrouter", ID: "a1b2c3", Reason: "reauth"}, ev)
	cancel()
	for range events {
	}
	assert.NoError(t, <-errc)

	// The daemon going away ends the stream with an error.
	events, errc = c.Events(context.Background())
	<-f.subscribed
	ts.stop()
	for range events {
	}
	err := <-errc
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrClosed) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), "%v", err)
}

// An empty name gets the server's clear refusal, not a redirect followed
// to another route.
func TestClientEmptyNameIsABadRequest(t *testing.T) {
	ts := startServer(t, newFake(), ServerOptions{})
	c := NewClient(ts.path)
	defer c.Close()
	_, err := c.Select(context.Background(), "", apitype.SelectRequest{})
	var ae *apitype.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, apitype.CodeBadRequest, ae.Code)
	assert.Contains(t, ae.Message, "empty segment")
}
