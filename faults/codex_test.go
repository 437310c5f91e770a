package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// poolWatch polls /v1/pools and records every answer whose pools or entry
// ids differ from the first one: a daemon that adopted a truncated or
// half-written file would show a pool shrinking or vanishing.
type poolWatch struct {
	base   map[string][]string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	polls   int
	changed []string
}

func poolIDs(views []apitype.Pool) map[string][]string {
	out := map[string][]string{}
	for _, v := range views {
		var ids []string
		for _, e := range v.Entries {
			ids = append(ids, e.ID)
		}
		slices.Sort(ids)
		out[v.Provider] = ids
	}
	return out
}

func watchPools(t *testing.T, c *socketapi.Client) *poolWatch {
	t.Helper()
	views, err := c.Pools(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w := &poolWatch{base: poolIDs(views), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			views, err := c.Pools(ctx)
			if err == nil {
				got := poolIDs(views)
				w.mu.Lock()
				w.polls++
				if !mapsEqual(got, w.base) && len(w.changed) < 5 {
					w.changed = append(w.changed, fmt.Sprint(got))
				}
				w.mu.Unlock()
			}
			sleepCtx(ctx, time.Millisecond)
		}
	}()
	return w
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func (w *poolWatch) stop() (polls int, changed []string) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, w.changed
}

// collectEvents follows /v1/events until the test ends.
func collectEvents(t *testing.T, c *socketapi.Client) func() []apitype.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	evs, _ := c.Events(ctx)
	var mu sync.Mutex
	var got []apitype.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range evs {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []apitype.Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// waitHealth polls health until it has status, for at most limit.
func waitHealth(c *socketapi.Client, status string, limit time.Duration) (apitype.Health, bool) {
	deadline := time.Now().Add(limit)
	var h apitype.Health
	for time.Now().Before(deadline) {
		var err error
		h, err = c.Health(context.Background())
		if err == nil && h.Status == status {
			return h, true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return h, false
}

// TestCodexInPlaceWriter writes auth.json the way the Codex CLI does:
// truncate, write, no lock, and here with a pause after the first half (or
// right after the truncation).
// During the pause the daemon is degraded, keeps every pool and entry (it
// never adopts the partial file), and answers a report (a 429 that it must
// write) without writing over the half file: the writer checks that the
// inode and the bytes are still its own before writing the rest. Afterwards
// the daemon adopts the finished content and writes the 429 on top of it.
func TestCodexInPlaceWriter(t *testing.T) {
	needPython(t)
	rounds := 12
	d := daemontest.Start(t, daemontest.Options{Fixture: fixtureWith(t, 4), Args: baseArgs})
	events := collectEvents(t, d.Client)
	watch := watchPools(t, d.Client)
	codex := startPython(t, "codex_writer.py", d.AuthFile)
	rng := rand.New(rand.NewPCG(3, 3))
	ctx := context.Background()

	for i := range rounds {
		label := fmt.Sprintf("codex-round-%d", i)
		victim := fmt.Sprintf("e%05x", i%4)

		// Start each round from a settled file with every churn entry ok.
		_, err := d.Client.Reset(ctx, churnPool, "")
		require.NoError(t, err)
		daemontest.Eventually(t, "the reset on disk", func() bool {
			doc := daemontest.ReadDoc(t, d.AuthFile)
			for _, e := range daemontest.Entries(doc, churnPool) {
				if e.(map[string]any)["last_status"] == "exhausted" {
					return false
				}
			}
			return true
		})
		doc := daemontest.ReadDoc(t, d.AuthFile)
		daemontest.Entry(doc, countPool, "77aa11")["label"] = label
		content := encode(t, doc)
		src := filepath.Join(t.TempDir(), "content.json")
		require.NoError(t, os.WriteFile(src, content, 0o600))

		// Every third round leaves the file empty (truncated, nothing
		// written yet) during the pause.
		fraction := "0.5"
		if i%3 == 2 {
			fraction = "0"
		}
		codex.Send(src + " " + fraction)
		require.Equal(t, "half", codex.Expect(pyTimeout))
		pauseEnd := time.Now().Add(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		// Odd rounds report before the daemon may have seen the truncation
		// (its write must then fail on the re-read under the lock); even
		// rounds once it is degraded (its write must wait).
		var rep apitype.ReportResponse
		if i%2 == 1 {
			rep, err = d.Client.Report(ctx, churnPool, apitype.ReportRequest{
				CredentialID: victim, StatusCode: 429, Reason: "rate_limit_exceeded"})
		}
		h, ok := waitHealth(d.Client, "degraded", 5*time.Second)
		assert.True(t, ok, "round %d: health is %q during the half write, want degraded", i, h.Status)
		if i%2 == 0 {
			rep, err = d.Client.Report(ctx, churnPool, apitype.ReportRequest{
				CredentialID: victim, StatusCode: 429, Reason: "rate_limit_exceeded"})
		}
		require.NoError(t, err, "round %d: report while the file is half-written", i)
		daemontest.NoSecret(t, "a report's persist_error", rep.PersistError)
		require.NotNil(t, rep.Marked, "round %d", i)
		assert.EqualValues(t, pool.StatusExhausted, rep.Marked.Status)
		_, err = d.Client.Select(ctx, churnPool, apitype.SelectRequest{})
		require.NoError(t, err, "round %d: select while the file is half-written", i)
		time.Sleep(time.Until(pauseEnd))
		codex.Send("rest")
		require.Equal(t, "done ok", codex.Expect(pyTimeout), "round %d: the daemon wrote over a half-written file", i)

		daemontest.Eventually(t, "the finished content adopted", func() bool {
			v, err := d.Client.Pool(ctx, countPool)
			if err != nil {
				return false
			}
			for _, e := range v.Entries {
				if e.ID == "77aa11" {
					return e.Label == label
				}
			}
			return false
		})
		_, ok = waitHealth(d.Client, "ok", 5*time.Second)
		require.True(t, ok, "round %d: health back to ok", i)
		daemontest.Eventually(t, "the 429 made during the pause on disk, on top of the new content", func() bool {
			raw, err := os.ReadFile(d.AuthFile)
			if err != nil {
				return false
			}
			doc := decode(t, raw)
			return entryField(doc, countPool, "77aa11", "label") == label &&
				entryField(doc, churnPool, victim, "last_status") == "exhausted"
		})
	}

	polls, changed := watch.stop()
	assert.Empty(t, changed, "the daemon's pools changed while a file was half-written (first was %v)", watch.base)
	var errs int
	for _, ev := range events() {
		assert.NotEqual(t, "entry.removed", ev.Type, "an entry vanished: %+v", ev)
		assert.NotEqual(t, "entry.added", ev.Type, "an entry appeared: %+v", ev)
		if ev.Type == "file.error" {
			errs++
		}
	}
	assert.Positive(t, errs, "no file.error event for a half-written file")
	t.Logf("%d rounds, %d pool polls, %d file.error events", rounds, polls, errs)
}
