package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixtureNow is 2026-06-01T12:40:00Z: ten minutes after the fixture's 402 on
// backup-key, so that entry is still cooling.
var fixtureNow = time.Unix(1780317600, 0)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      *testing.T
	auth   string
	sock   string
	clock  *fakeClock
	logs   *testio.SyncBuffer
	client *socketapi.Client
	d      *Daemon
	// events holds every event since before Run: what happens at start
	// (a refresh of a token found expiring) is not missed.
	events *follower
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, fixture []byte, mutate func(*Config)) *harness {
	t.Helper()
	dir := testio.ShortTempDir(t)
	auth := filepath.Join(dir, "hermes", "auth.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(auth), 0o700))
	if fixture != nil {
		require.NoError(t, os.WriteFile(auth, fixture, 0o600))
	}
	h := &harness{t: t, auth: auth, sock: filepath.Join(dir, "run", "credpool.sock"),
		clock: &fakeClock{t: fixtureNow}, logs: &testio.SyncBuffer{}}
	cfg := Config{
		AuthFile: auth, Socket: h.sock, Version: "test",
		Pool:   pool.Config{Now: h.clock.Now, PruneDeadAfter: 24 * time.Hour},
		Tick:   100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ready := make(chan struct{})
	cfg.OnReady = func() { close(ready) }
	h.d = New(cfg)
	h.events = h.follow(t)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	select {
	case <-ready:
	case err := <-h.done:
		t.Fatalf("daemon exited at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready after 10s")
	}
	h.client = socketapi.NewClient(h.sock)
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		assert.NoError(h.t, err)
	case <-time.After(10 * time.Second):
		h.t.Error("daemon did not stop within 10s")
	}
	h.cancel = nil
}

func fixture(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/auth.json")
	require.NoError(t, err)
	return b
}

// diskEntry reads auth.json as any other process would and returns one entry.
func diskEntry(t *testing.T, path, provider, id string) (pool.Entry, bool) {
	f, _, err := authfile.NewStore(path).Read()
	require.NoError(t, err)
	for _, e := range f.Pools[provider] {
		if e.ID == id {
			return e, true
		}
	}
	return pool.Entry{}, false
}

// entry is the daemon's view of one entry; the test fails when it has none.
func (h *harness) entry(t *testing.T, provider, id string) apitype.Entry {
	t.Helper()
	v, err := h.client.Pool(context.Background(), provider)
	require.NoError(t, err)
	for _, e := range v.Entries {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("%s/%s not in the pool", provider, id)
	return apitype.Entry{}
}

// follow collects events from the daemon's stream.
type follower struct {
	mu     sync.Mutex
	events []apitype.Event
}

func (h *harness) follow(t *testing.T) *follower {
	f := &follower{}
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.d.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *follower) has(typ, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.events {
		if ev.Type == typ && ev.ID == id {
			return true
		}
	}
	return false
}

func TestSelectAndReportArePersisted(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()

	sel, err := h.client.Select(ctx, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	// abc123 has no token on disk and 9f8e7d is cooling after a 402.
	assert.Equal(t, "77aa11", sel.Credential.ID)
	assert.Equal(t, "sk-or-v1-primary-key-77aa11", sel.Credential.AccessToken)

	res, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 429, Reason: "rate_limit_exceeded"})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.EqualValues(t, pool.StatusExhausted, res.Marked.Status)
	daemontest.Eventually(t, "429 on disk", func() bool {
		e, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
		return e.LastStatus == pool.StatusExhausted && e.LastErrorCode == 429
	})

	res, err = h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 401, Reason: " Token_Invalidated "})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.EqualValues(t, pool.StatusDead, res.Marked.Status)
	daemontest.Eventually(t, "DEAD on disk", func() bool {
		e, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
		return e.LastStatus == pool.StatusDead && e.LastErrorCode == 401
	})
	v, err := h.client.Pool(ctx, "openrouter")
	require.NoError(t, err)
	for _, e := range v.Entries {
		if e.ID == "77aa11" {
			assert.EqualValues(t, pool.StatusDead, e.Status)
		}
	}
	assert.Contains(t, h.logs.String(), "credential dead")
	assert.NotContains(t, h.logs.String(), "sk-or-v1-primary-key-77aa11")
}

func TestFreshTokensRecoverDeadEntry(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		id       string
		prepare  func(t *testing.T, h *harness) // make the entry DEAD
		relogin  func(doc map[string]any)
		newToken string
	}{
		{
			name: "own row rewritten", provider: "openai-codex", id: "d4e5f6",
			relogin: func(doc map[string]any) {
				e := daemontest.Entry(doc, "openai-codex", "d4e5f6")
				e["access_token"] = "fresh-access-d4"
				e["refresh_token"] = "fresh-refresh-d4"
			},
			newToken: "fresh-access-d4",
		},
		{
			name: "device_code follows the singleton", provider: "openai-codex", id: "a1b2c3",
			prepare: func(t *testing.T, h *harness) {
				_, err := h.client.Report(context.Background(), "openai-codex", apitype.ReportRequest{CredentialID: "a1b2c3", StatusCode: 401, Reason: "token_revoked"})
				require.NoError(t, err)
				daemontest.Eventually(t, "DEAD on disk", func() bool {
					e, _ := diskEntry(t, h.auth, "openai-codex", "a1b2c3")
					return e.LastStatus == pool.StatusDead
				})
			},
			relogin: func(doc map[string]any) {
				tok := doc["providers"].(map[string]any)["openai-codex"].(map[string]any)["tokens"].(map[string]any)
				tok["access_token"] = "fresh-singleton-access"
				tok["refresh_token"] = "fresh-singleton-refresh"
			},
			newToken: "fresh-singleton-access",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The fixture's DEAD manual:device_code entry is a year old:
			// keep it from being pruned before it can be re-authenticated.
			h := start(t, fixture(t), func(c *Config) { c.Pool.PruneDeadAfter = 0 })
			if tc.prepare != nil {
				tc.prepare(t, h)
			}
			ev := h.follow(t)
			daemontest.HermesWrite(t, h.auth, tc.relogin)
			// No select in between: the file watch alone brings it back.
			daemontest.Eventually(t, "entry.recovered", func() bool { return ev.has("entry.recovered", tc.id) })
			v, err := h.client.Pool(context.Background(), tc.provider)
			require.NoError(t, err)
			found := false
			for _, e := range v.Entries {
				if e.ID == tc.id {
					found = true
					assert.True(t, e.Available, "entry available after re-auth")
					assert.EqualValues(t, pool.StatusOK, e.Status)
				}
			}
			require.True(t, found)
			daemontest.Eventually(t, "cleared status on disk", func() bool {
				e, _ := diskEntry(t, h.auth, tc.provider, tc.id)
				return e.LastStatus != pool.StatusDead && e.AccessToken == tc.newToken
			})
			assert.NotContains(t, h.logs.String(), tc.newToken)
		})
	}
}

func TestOthersAddAndRemoveWhileWeMark(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()
	daemontest.HermesWrite(t, h.auth, func(doc map[string]any) {
		pools := doc["credential_pool"].(map[string]any)
		pools["openrouter"] = append(daemontest.Entries(doc, "openrouter"), map[string]any{
			"id": "new001", "label": "added-by-hermes", "auth_type": "api_key", "priority": 3,
			"source": "manual", "access_token": "sk-new-001", "request_count": 0,
		})
		var kept []any
		for _, e := range daemontest.Entries(doc, "openrouter") {
			if e.(map[string]any)["id"] != "9f8e7d" {
				kept = append(kept, e)
			}
		}
		pools["openrouter"] = kept
	})
	daemontest.Eventually(t, "the added entry is served", func() bool {
		v, err := h.client.Pool(ctx, "openrouter")
		return err == nil && len(v.Entries) == 3 && v.Entries[2].ID == "new001"
	})
	_, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "new001", StatusCode: 401, Reason: "invalid_grant"})
	require.NoError(t, err)
	daemontest.Eventually(t, "DEAD on disk", func() bool {
		e, ok := diskEntry(t, h.auth, "openrouter", "new001")
		return ok && e.LastStatus == pool.StatusDead
	})
	_, ok := diskEntry(t, h.auth, "openrouter", "9f8e7d")
	assert.False(t, ok, "an entry removed by another process must not come back")
}

func TestPruneOnTick(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()
	_, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	daemontest.Eventually(t, "DEAD on disk", func() bool {
		e, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
		return e.LastStatus == pool.StatusDead
	})
	h.clock.Add(25 * time.Hour)
	// No request: the ticker alone prunes it.
	daemontest.Eventually(t, "pruned from disk", func() bool {
		_, ok := diskEntry(t, h.auth, "openrouter", "77aa11")
		return !ok
	})
	// The fixture's manual:device_code entry has been DEAD for a year: gone.
	_, ok := diskEntry(t, h.auth, "openai-codex", "d4e5f6")
	assert.False(t, ok, "a manual:* DEAD entry past the TTL is pruned")
	_, ok = diskEntry(t, h.auth, "openai-codex", "a1b2c3")
	assert.True(t, ok, "device_code entries are never pruned")
}

func TestCorruptFileIsNeverWrittenOver(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()
	// The start-up write (prune, ended cooldown) must land first: a writer
	// that writes in place without the lock loses to a rename that follows.
	daemontest.Eventually(t, "start-up write", func() bool {
		_, ok := diskEntry(t, h.auth, "openai-codex", "d4e5f6")
		return !ok
	})
	good, err := os.ReadFile(h.auth)
	require.NoError(t, err)
	half := good[:len(good)/2]
	require.NoError(t, os.WriteFile(h.auth, half, 0o600))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.logs.String())
		}
	})
	daemontest.Eventually(t, "degraded", func() bool {
		hl, err := h.client.Health(ctx)
		return err == nil && hl.Status == "degraded" && hl.LastError != nil
	})
	// Still serving the last good state, and a mark waits instead of writing.
	sel, err := h.client.Select(ctx, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	_, err = h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: sel.Credential.ID, StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // give a wrong write a chance to happen
	now, err := os.ReadFile(h.auth)
	require.NoError(t, err)
	assert.Equal(t, half, now, "a corrupt file must never be written over")

	require.NoError(t, os.WriteFile(h.auth, good, 0o600))
	daemontest.Eventually(t, "healthy again", func() bool {
		hl, err := h.client.Health(ctx)
		return err == nil && hl.Status == "ok"
	})
	daemontest.Eventually(t, "the waiting mark is written", func() bool {
		e, _ := diskEntry(t, h.auth, "openrouter", sel.Credential.ID)
		return e.LastStatus == pool.StatusDead
	})
}

func TestWaitingSelectWakesOnRecovery(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()
	_, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 429})
	require.NoError(t, err)
	_, err = h.client.Select(ctx, "openrouter", apitype.SelectRequest{})
	require.ErrorIs(t, err, pool.ErrNoneAvailable)

	got := make(chan error, 1)
	go func() {
		_, err := h.client.Select(ctx, "openrouter", apitype.SelectRequest{WaitMS: 20000})
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the select start waiting
	n, err := h.client.Reset(ctx, "openrouter", "77aa11")
	require.NoError(t, err)
	require.Equal(t, 1, n.Reset)
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("waiting select did not wake on recovery")
	}
}

func TestSecondDaemonIsRefused(t *testing.T) {
	h := start(t, fixture(t), nil)
	d2 := New(Config{AuthFile: h.auth, Socket: h.sock, Logger: slog.New(slog.NewTextHandler(&testio.SyncBuffer{}, nil))})
	err := d2.Run(context.Background())
	require.ErrorIs(t, err, ErrAlreadyRunning)
	assert.Contains(t, err.Error(), "pid ")
	_, err = h.client.Health(context.Background())
	assert.NoError(t, err, "the first daemon keeps serving")
}

func TestStaleSocketIsRemovedAndShutdownCleansUp(t *testing.T) {
	dir := testio.ShortTempDir(t)
	sock := filepath.Join(dir, "credpool.sock")
	require.NoError(t, os.WriteFile(sock, nil, 0o600)) // left by a killed daemon
	auth := filepath.Join(dir, "auth.json")
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{AuthFile: auth, Socket: sock, OnReady: func() { close(ready) },
			Logger: slog.New(slog.NewTextHandler(&testio.SyncBuffer{}, nil))})
	}()
	<-ready
	hl, err := socketapi.NewClient(sock).Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "ok", hl.Status)
	cancel()
	require.NoError(t, <-done)
	_, err = os.Stat(sock)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket removed on shutdown")
}

func TestStartRemovesTempFilesOfAKilledWrite(t *testing.T) {
	dir := testio.ShortTempDir(t)
	auth := filepath.Join(dir, "auth.json")
	require.NoError(t, os.WriteFile(auth, fixture(t), 0o600))
	stale := filepath.Join(dir, ".auth.json.tmp-4242")
	require.NoError(t, os.WriteFile(stale, fixture(t), 0o600))
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{AuthFile: auth, Socket: filepath.Join(dir, "s.sock"), OnReady: func() { close(ready) },
			Logger: slog.New(slog.NewTextHandler(&testio.SyncBuffer{}, nil))})
	}()
	<-ready
	assert.NoFileExists(t, stale)
	assert.FileExists(t, auth)
	cancel()
	require.NoError(t, <-done)
}

func TestUnknownFieldsSurviveDaemonWrites(t *testing.T) {
	h := start(t, fixture(t), nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_, err := h.client.Select(ctx, "openrouter", apitype.SelectRequest{})
		require.NoError(t, err)
	}
	_, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 402, FailureReason: "billing"})
	require.NoError(t, err)
	daemontest.Eventually(t, "402 on disk", func() bool {
		e, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
		return e.LastErrorCode == 402
	})
	raw, err := os.ReadFile(h.auth)
	require.NoError(t, err)
	for _, want := range []string{`"x_team_note"`, `"kept verbatim by every writer"`, `"x_unknown_top_level"`, `"secret_fingerprint"`, `"suppressed_sources"`, `"id_token"`, `"ca_bundle"`} {
		assert.True(t, strings.Contains(string(raw), want), "lost %s", want)
	}
}
