package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
)

// staleProvider is the pool of the stale-writer scenarios: a name the real
// Hermes knows and seeds nothing into when no OPENROUTER_API_KEY is set.
const staleProvider = "openrouter"

// stalePool is an auth.json with one provider of manual API keys k1..kN
// (priorities 0..N-1, as Hermes numbers them, so that loading it makes
// Hermes write nothing), each row changed by rows[id] if given. tokens
// maps each id to its access token.
func stalePool(t testing.TB, n int, rows map[string]map[string]any) (fixture []byte, tokens map[string]string) {
	t.Helper()
	tokens = map[string]string{}
	var entries []any
	for i := 1; i <= n; i++ {
		id := "k" + strconv.Itoa(i)
		tokens[id] = accessToken(t)
		e := map[string]any{
			"id": id, "label": "key-" + id, "auth_type": "api_key", "priority": i - 1, "source": "manual",
			"access_token": tokens[id], "last_status": nil, "last_status_at": nil, "last_error_code": nil,
			"last_error_reason": nil, "last_error_message": nil, "last_error_reset_at": nil, "request_count": 0,
		}
		for k, v := range rows[id] {
			e[k] = v
		}
		entries = append(entries, e)
	}
	doc := map[string]any{"version": 1, "providers": map[string]any{}, "credential_pool": map[string]any{staleProvider: entries}}
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out, tokens
}

// view is the daemon's view of one entry (the zero Entry when it has none).
func (h *harness) view(provider, id string) apitype.Entry {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := h.Client.Pool(ctx, provider)
	require.NoError(h.t, err, "the daemon's view of %s", provider)
	for _, e := range v.Entries {
		if e.ID == id {
			return e
		}
	}
	return apitype.Entry{}
}

// diskRow is the row of id on disk now, nil when there is none.
func (h *harness) diskRow(provider, id string) map[string]any {
	return daemontest.Entry(h.disk(), provider, id)
}

func diskStatus(row map[string]any) string {
	if row == nil {
		return "<no row>"
	}
	if s := str(row["last_status"]); s != "" {
		return s
	}
	return "ok"
}

func count(row map[string]any) int {
	n, _ := strconv.Atoi(str(row["request_count"]))
	return n
}

func (h *harness) report(provider, id string, code int, reason string) apitype.ReportResponse {
	h.t.Helper()
	res, err := h.Client.Report(bg, provider, apitype.ReportRequest{CredentialID: id, StatusCode: code, Reason: reason})
	require.NoError(h.t, err, "report %d on %s", code, id)
	require.NotNil(h.t, res.Marked, "report %d on %s marked nothing", code, id)
	require.True(h.t, res.Persisted, "report %d on %s: %s", code, id, res.PersistError)
	return res
}

// selectIDs selects n times and returns the ids handed out, failing the
// test when a select hands out a token other than want[id] (the current
// key of that entry).
func (h *harness) selectIDs(provider string, n int, want map[string]string) []string {
	h.t.Helper()
	var ids []string
	for range n {
		sel, err := h.Client.Select(bg, provider, apitype.SelectRequest{})
		if err != nil {
			ids = append(ids, "<"+err.Error()+">")
			continue
		}
		ids = append(ids, sel.Credential.ID)
		if tok, ok := want[sel.Credential.ID]; ok && tok != sel.Credential.AccessToken {
			h.t.Errorf("select handed out %s with a key that is not its current one (an old key came back)", sel.Credential.ID)
		}
	}
	return ids
}

// TestStaleSessionUndoesNothing is issue 8 point 1: a Hermes session that
// loaded the pool before credpool changed it writes its whole snapshot back
// on its next mark. Before the merge by token generation the file then
// read {k1: exhausted, k2: null, k3: null} and credpool served k2, the
// revoked key; the same write set request_count back, brought back an entry
// `credpool remove` had removed, and put a manual entry's old key back over
// a re-login. It guards the four rules that stop that: clearing without a
// reset is stale, counts never go backwards, tombstones, tokens never go
// backwards.
func TestStaleSessionUndoesNothing(t *testing.T) {
	t.Parallel()
	for _, kind := range sessionKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			fixture, tokens := stalePool(t, 5, map[string]map[string]any{"k1": {"request_count": 5}})
			h := start(t, fixture, daemontest.Options{})
			s := kind.start(t, h, staleProvider, 0)
			require.Equal(t, []string{"k1", "k2", "k3", "k4", "k5"}, s.loaded)

			// What credpool does after the session loaded: selections (k1,
			// fill_first), a DEAD and an EXHAUSTED mark, a removal, and a
			// re-login of k4 in another terminal.
			assert.Equal(t, []string{"k1", "k1", "k1"}, h.selectIDs(staleProvider, 3, tokens))
			h.report(staleProvider, "k2", 401, "token_invalidated")
			h.report(staleProvider, "k3", 429, "rate_limit_exceeded")
			rm, err := h.Client.RemoveEntry(bg, staleProvider, "k5")
			require.NoError(t, err)
			require.True(t, rm.Persisted, rm.PersistError)
			oldK4 := tokens["k4"]
			tokens["k4"] = accessToken(t)
			hermes(t, "row", h.AuthFile, staleProvider, "k4", tokens["k4"], refreshToken(t))
			newHint := tokens["k4"][len(tokens["k4"])-4:]
			daemontest.Eventually(t, "the daemon follows k4's re-login", func() bool {
				v := h.view(staleProvider, "k4")
				return v.TokenHint != nil && *v.TokenHint == newHint
			})
			// Selections and each report's next count: 5 on disk before.
			counted := h.view(staleProvider, "k1").RequestCount
			require.GreaterOrEqual(t, counted, 8)
			daemontest.Eventually(t, "k1's request count on disk", func() bool { return count(h.diskRow(staleProvider, "k1")) == counted })
			events := h.follow()

			// The session marks k1 with a 429 and writes its snapshot: k2 and
			// k3 as it loaded them (no verdict), k1's count 5, k5 present,
			// k4 with its old key.
			s.mark("k1", 429, "rate_limit_exceeded")
			events.wait(t, "entry.exhausted", "k1")

			daemontest.Eventually(t, "credpool's verdicts written back over the stale snapshot", func() bool {
				return diskStatus(h.diskRow(staleProvider, "k2")) == "dead" && diskStatus(h.diskRow(staleProvider, "k3")) == "exhausted"
			})
			daemontest.Eventually(t, "the whole stale write repaired on disk", func() bool {
				k4 := h.diskRow(staleProvider, "k4")
				return h.diskRow(staleProvider, "k5") == nil && count(h.diskRow(staleProvider, "k1")) >= counted &&
					k4 != nil && k4["access_token"] == tokens["k4"]
			})
			doc := h.disk()
			assert.Equal(t, "exhausted", diskStatus(daemontest.Entry(doc, staleProvider, "k1")), "the session's own 429 is a verdict and is kept")
			assert.Equal(t, "dead", diskStatus(daemontest.Entry(doc, staleProvider, "k2")), "point 1: the DEAD mark survives")
			assert.Equal(t, "exhausted", diskStatus(daemontest.Entry(doc, staleProvider, "k3")), "point 1: the cooldown survives")
			assert.GreaterOrEqual(t, count(daemontest.Entry(doc, staleProvider, "k1")), counted, "point 1: request_count went back")
			assert.Nil(t, daemontest.Entry(doc, staleProvider, "k5"), "point 1: the removed entry came back")
			k4 := daemontest.Entry(doc, staleProvider, "k4")
			require.NotNil(t, k4)
			assert.True(t, k4["access_token"] == tokens["k4"], "point 1: k4 carries its old key again, over the re-login")
			assert.False(t, k4["access_token"] == oldK4)

			assert.EqualValues(t, pool.StatusDead, h.view(staleProvider, "k2").Status)
			assert.EqualValues(t, pool.StatusExhausted, h.view(staleProvider, "k3").Status)
			assert.Empty(t, h.view(staleProvider, "k5").ID, "the removed entry is served again")
			// k4 is the only available entry: every select hands it out,
			// with its new key, and never k2.
			for _, id := range h.selectIDs(staleProvider, 20, tokens) {
				require.Equal(t, "k4", id, "a select after the stale write")
			}
			st := h.credpool("", "status", staleProvider)
			require.Equal(t, 0, st.code, st.stderr)
			assert.Contains(t, lineWith(st.stdout, "k2"), "dead", st.stdout)
			assert.NotContains(t, st.stdout, "k5")
		})
	}
}

// TestFutureLastStatusAt is issue 8 point 2: a last_status_at ahead of the
// daemon's clock (5 minutes, or the end of 9999) made "the later
// last_status_at wins" ignore every later change: a report answered
// "marked dead" while the file kept "ok" and the key was served, `credpool
// reset` reset nothing, and a re-login flipped the entry to recovered and
// straight back. It guards the clock rule: another writer's time more than
// 60 s ahead counts as the moment it was first read.
func TestFutureLastStatusAt(t *testing.T) {
	t.Parallel()
	ahead := float64(time.Now().Unix() + 300)
	const end = "9999-12-31T23:59:59Z"

	t.Run("a report lands on disk", func(t *testing.T) {
		t.Parallel()
		fixture, tokens := stalePool(t, 3, map[string]map[string]any{
			"k1": {"last_status": "ok", "last_status_at": ahead},
			"k2": {"last_status": "ok", "last_status_at": end},
		})
		h := start(t, fixture, daemontest.Options{})
		h.report(staleProvider, "k1", 401, "token_invalidated")
		h.report(staleProvider, "k2", 429, "rate_limit_exceeded")
		doc := h.disk() // the answers came after the write
		assert.Equal(t, "dead", diskStatus(daemontest.Entry(doc, staleProvider, "k1")))
		assert.Equal(t, "exhausted", diskStatus(daemontest.Entry(doc, staleProvider, "k2")))
		for _, id := range h.selectIDs(staleProvider, 10, tokens) {
			require.Equal(t, "k3", id, "a marked key is served")
		}
		// A restarted daemon reads the marks back from the file.
		require.NoError(t, h.Stop())
		require.NoError(t, h.Restart())
		assert.EqualValues(t, pool.StatusDead, h.view(staleProvider, "k1").Status)
		assert.EqualValues(t, pool.StatusExhausted, h.view(staleProvider, "k2").Status)
	})

	for _, kind := range sessionKinds {
		t.Run("credpool reset resets, after a session with a fast clock/"+kind.name, func(t *testing.T) {
			t.Parallel()
			fixture, _ := stalePool(t, 4, map[string]map[string]any{
				"k2": {"last_status": "exhausted", "last_status_at": ahead, "last_error_code": 429},
				"k3": {"last_status": "exhausted", "last_status_at": end, "last_error_code": 429},
			})
			h := start(t, fixture, daemontest.Options{})
			// A session whose clock is 5 minutes ahead marks k1: its
			// last_status_at is in the daemon's future.
			s := kind.start(t, h, staleProvider, 300)
			s.mark("k1", 429, "rate_limit_exceeded")
			daemontest.Eventually(t, "the session's mark", func() bool { return h.view(staleProvider, "k1").Status == string(pool.StatusExhausted) })

			res := h.credpool("", "reset", staleProvider)
			require.Equal(t, 0, res.code, res.stderr)
			assert.Contains(t, res.stdout, "reset 3 entries")
			assert.NotContains(t, res.stderr, "warning", "the reset is on disk when reset returns")
			doc := h.disk()
			for _, id := range []string{"k1", "k2", "k3"} {
				assert.Equal(t, "ok", diskStatus(daemontest.Entry(doc, staleProvider, id)), "%s on disk after credpool reset", id)
				v := h.view(staleProvider, id)
				assert.True(t, v.Available, "%s is not available after credpool reset (status %s)", id, v.Status)
			}
			// The session is still stale: its next write brings back k1's
			// mark at +300 s, which credpool first read before the reset,
			// so the reset still wins.
			s.mark("k4", 429, "rate_limit_exceeded")
			daemontest.Eventually(t, "the session's second mark", func() bool { return h.view(staleProvider, "k4").Status == string(pool.StatusExhausted) })
			daemontest.Eventually(t, "the reset written back over the stale snapshot", func() bool {
				return diskStatus(h.diskRow(staleProvider, "k1")) == "ok"
			})
			assert.True(t, h.view(staleProvider, "k1").Available, "k1 benched again by a mark from before the reset")
		})
	}

	t.Run("a re-login stays recovered", func(t *testing.T) {
		t.Parallel()
		fixture, tokens := stalePool(t, 3, map[string]map[string]any{
			"k1": {"last_status": "dead", "last_status_at": ahead, "last_error_code": 401, "last_error_reason": "token_invalidated"},
			"k2": {"last_status": "dead", "last_status_at": end, "last_error_code": 401, "last_error_reason": "token_invalidated"},
			"k3": {"last_status": "dead", "last_status_at": ahead, "last_error_code": 401, "last_error_reason": "token_invalidated"},
		})
		h := start(t, fixture, daemontest.Options{})
		f := h.follow()
		for _, id := range []string{"k1", "k2"} {
			tokens[id] = accessToken(t)
			hermes(t, "row", h.AuthFile, staleProvider, id, tokens[id], refreshToken(t))
			f.wait(t, "entry.recovered", id)
		}
		// Another change of the file and a few ticks later (100 ms each),
		// the re-logins still hold: in memory, on disk, in a select.
		tokens["k3"] = accessToken(t)
		hermes(t, "row", h.AuthFile, staleProvider, "k3", tokens["k3"], refreshToken(t))
		f.wait(t, "entry.recovered", "k3")
		time.Sleep(300 * time.Millisecond)
		for _, id := range []string{"k1", "k2", "k3"} {
			assert.True(t, h.view(staleProvider, id).Available, "%s went back to DEAD after its re-login", id)
			_, again := f.find("entry.dead", id)
			assert.False(t, again, "%s was announced dead again after its re-login", id)
		}
		daemontest.Eventually(t, "the recoveries on disk", func() bool {
			doc := h.disk()
			return diskStatus(daemontest.Entry(doc, staleProvider, "k1")) == "ok" && diskStatus(daemontest.Entry(doc, staleProvider, "k2")) == "ok"
		})
		assert.Equal(t, []string{"k1", "k1"}, h.selectIDs(staleProvider, 2, tokens))
	})
}

// TestAuthLockWriteIsNotAChange: Hermes writes its pid into auth.lock
// while it holds the lock and empties it on release. That is not a change
// of auth.json: no reload, no event. It guards the io loop's filter of file
// events (a reload per lock write would re-merge the file for every Hermes
// write twice more, and one per event of a busy directory was the hot loop
// of issue 9). A change of auth.json made afterwards is the marker: events
// arrive in order, so once its reload is seen, none came before it.
func TestAuthLockWriteIsNotAChange(t *testing.T) {
	t.Parallel()
	fixture, _ := stalePool(t, 2, nil)
	h := start(t, fixture, daemontest.Options{Tick: "1m"})
	f := h.follow()
	reloads0 := metric(t, h, "credpool_reloads_total")
	for i := range 20 {
		fh, release := daemontest.HoldLock(t, h.AuthFile)
		writeLock(t, fh, strconv.Itoa(4000+i)+"\n")
		writeLock(t, fh, "")
		release()
	}
	marker := accessToken(t)
	hermes(t, "row", h.AuthFile, staleProvider, "k2", marker, refreshToken(t))
	daemontest.Eventually(t, "the reload of the marker change", func() bool {
		v := h.view(staleProvider, "k2")
		_, ok := f.find("file.reloaded", "")
		return ok && v.TokenHint != nil && *v.TokenHint == marker[len(marker)-4:]
	})
	n := 0
	for _, ev := range f.snapshot() {
		if ev.Type == "file.reloaded" {
			n++
		}
	}
	assert.Equal(t, 1, n, "reloads announced: the lock writes counted as changes of auth.json")
	assert.Equal(t, reloads0+1, metric(t, h, "credpool_reloads_total"), "credpool_reloads_total")
}
