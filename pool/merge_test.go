package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hermesSnapshot is what a Hermes session that loaded rows earlier writes
// back: its own copy of every row, replacing the file's by id.
func hermesSnapshot(rows ...Entry) Snapshot { return snapshotOf(map[string][]Entry{prov: rows}) }

// TestStaleWriterCannotUndoVerdicts pins issue 8's first finding: a Hermes
// session loaded before credpool's verdicts writes its whole snapshot.
func TestStaleWriterCannotUndoVerdicts(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("k1", 0), ent("k2", 1), ent("k3", 2, withCount(5))}}
	p, _ := newTest(t, Config{}, disk)
	_, err := p.Report(prov, Report{CredentialID: "k2", StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	_, err = p.Report(prov, Report{CredentialID: "k3", StatusCode: 429})
	require.NoError(t, err)
	written := roundTrip(p, snapshotOf(cloneDisk(disk)))

	// The stale session marks k1 with a 429 and writes rows it loaded
	// before: k2 and k3 clean, k3's count back at 0.
	k1 := ent("k1", 0, withStatus(StatusExhausted, 429, "rate_limit", 0))
	stale := hermesSnapshot(k1, ent("k2", 1), ent("k3", 2))
	p.Load(stale)
	assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "k1").LastStatus, "the stale session's own new mark is taken")
	assert.Equal(t, StatusDead, entryOf(t, p, prov, "k2").LastStatus, "k2 stays DEAD")
	assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "k3").LastStatus, "k3 stays cooling")
	assert.GreaterOrEqual(t, entryOf(t, p, prov, "k3").RequestCount, written.Pools[prov][2].RequestCount, "counts never go backwards")
	assert.Equal(t, "", selectID(t, p, prov, SelectOptions{}), "the revoked key is not handed out")
	assert.True(t, urgent(p))

	fixed := roundTrip(p, stale)
	assert.Equal(t, StatusExhausted, fixed.Pools[prov][0].LastStatus)
	assert.Equal(t, StatusDead, fixed.Pools[prov][1].LastStatus, "the verdict is written back")
	assert.Equal(t, "token_invalidated", fixed.Pools[prov][1].LastErrorReason)
	assert.Equal(t, StatusExhausted, fixed.Pools[prov][2].LastStatus)
	assert.Equal(t, 5, fixed.Pools[prov][2].RequestCount)
}

func TestStaleWriterCannotBringBackRemovedOrOlder(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("k1", 0), ent("k2", 1)}}
	t.Run("removed entry", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		_, _, err := p.Remove(prov, "k2")
		require.NoError(t, err)
		written := roundTrip(p, snapshotOf(cloneDisk(disk)))
		require.Equal(t, []string{"k1"}, diskIDs(written, prov))
		stale := snapshotOf(cloneDisk(disk)) // the stale session still holds k2
		ch := p.Load(stale)
		assert.Empty(t, ch)
		assert.Equal(t, []string{"k1"}, ids(p, prov))
		assert.True(t, urgent(p))
		assert.Equal(t, []string{"k1"}, diskIDs(roundTrip(p, stale), prov), "removed again")
	})
	t.Run("a new id with the same token is a deliberate re-add", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		_, _, err := p.Remove(prov, "k2")
		require.NoError(t, err)
		roundTrip(p, snapshotOf(cloneDisk(disk)))
		readd := ent("k9", 1, withToken(tok("k2")))
		p.Load(snapshotOf(map[string][]Entry{prov: {ent("k1", 0), readd}}))
		assert.Equal(t, []string{"k1", "k9"}, ids(p, prov))
	})
	t.Run("an old key over a re-login", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk)
		relogged := ent("k1", 0, withToken("sk-relogged-key-1"))
		p.Load(snapshotOf(map[string][]Entry{prov: {relogged, ent("k2", 1)}}))
		stale := snapshotOf(cloneDisk(disk)) // the old key again
		p.Load(stale)
		assert.Equal(t, "sk-relogged-key-1", entryOf(t, p, prov, "k1").AccessToken)
		sel, err := p.Select(prov, SelectOptions{})
		require.NoError(t, err)
		assert.Equal(t, "sk-relogged-key-1", sel.Credential.AccessToken)
		out := roundTrip(p, stale)
		assert.Equal(t, "sk-relogged-key-1", out.Pools[prov][0].AccessToken, "the newer pair is written back")
	})
}

// TestResetsAndStaleSnapshots: a deliberate reset wins over every verdict
// observed before it, whoever holds it; clearing without one is stale.
func TestResetsAndStaleSnapshots(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("k1", 0), ent("k2", 1)}}
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, p *Pool, c *clock) Snapshot // returns the file another writer leaves
		want Status
	}{
		{"Hermes' reset writes status_cleared_at", func(t *testing.T, p *Pool, c *clock) Snapshot {
			c.advance(time.Second)
			return hermesSnapshot(ent("k1", 0, func(e *Entry) { e.StatusClearedAt = c.epochOf() }), ent("k2", 1))
		}, StatusOK},
		{"cleared without status_cleared_at is stale", func(t *testing.T, p *Pool, c *clock) Snapshot {
			c.advance(time.Second)
			return hermesSnapshot(ent("k1", 0), ent("k2", 1))
		}, StatusDead},
		{"a reset older than the verdict is no reset", func(t *testing.T, p *Pool, c *clock) Snapshot {
			return hermesSnapshot(ent("k1", 0, func(e *Entry) { e.StatusClearedAt = c.epochOf() - 10 }), ent("k2", 1))
		}, StatusDead},
		{"our reset beats a stale writer's old verdict", func(t *testing.T, p *Pool, c *clock) Snapshot {
			c.advance(time.Second)
			n, _, err := p.Reset(prov, "k1")
			require.NoError(t, err)
			require.Equal(t, 1, n)
			roundTrip(p, snapshotOf(cloneDisk(disk)))
			return hermesSnapshot(ent("k1", 0, withStatus(StatusDead, 401, "token_invalidated", 0)), ent("k2", 1))
		}, StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c := newTest(t, Config{}, disk)
			_, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
			roundTrip(p, snapshotOf(cloneDisk(disk)))
			other := tc.do(t, p, c)
			p.Load(other)
			assert.Equal(t, tc.want, norm(entryOf(t, p, prov, "k1").LastStatus))
			out := roundTrip(p, other)
			assert.Equal(t, tc.want, norm(out.Pools[prov][0].LastStatus), "the file agrees")
			p.Load(out)
			assert.Equal(t, tc.want, norm(entryOf(t, p, prov, "k1").LastStatus), "and stays so on the next read")
		})
	}
}

// TestClockRules pins the clock cases of issue 8: other writers' future
// timestamps are ordered by this daemon's clock, and no verdict becomes
// impossible to change.
func TestClockRules(t *testing.T) {
	const far = 253402300799.0 // 9999-12-31T23:59:59Z
	now := epochOf(t0)
	for _, tc := range []struct {
		name  string
		row   func(*Entry) // k1 as another writer left it
		act   func(t *testing.T, p *Pool, c *clock)
		want  Status
		check func(t *testing.T, p *Pool, out Snapshot)
	}{
		{"a report lands over a status 5 min ahead", func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusExhausted, LastStatusAt: now + 300, LastErrorCode: 429}
		}, func(t *testing.T, p *Pool, c *clock) {
			res, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
			assert.Equal(t, StatusDead, res.Marked.Status)
		}, StatusDead, nil},
		{"a report lands over an ok status stamped in 9999", func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusOK, LastStatusAt: far}
		}, func(t *testing.T, p *Pool, c *clock) {
			_, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
		}, StatusDead, nil},
		{"a reset ends a verdict stamped in 9999", func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusDead, LastStatusAt: far, LastErrorCode: 401, LastErrorReason: "token_revoked"}
		}, func(t *testing.T, p *Pool, c *clock) {
			c.advance(time.Second)
			n, _, err := p.Reset(prov, "")
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		}, StatusOK, func(t *testing.T, p *Pool, out Snapshot) {
			assert.Less(t, out.Pools[prov][0].StatusClearedAt, far)
		}},
		{"a status_cleared_at in 9999 does not void later verdicts", func(e *Entry) {
			e.StatusClearedAt = far
		}, func(t *testing.T, p *Pool, c *clock) {
			c.advance(time.Second)
			_, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
		}, StatusDead, func(t *testing.T, p *Pool, out Snapshot) {
			assert.InDelta(t, now, out.Pools[prov][0].StatusClearedAt, 1e-6, "written back as when it was read")
		}},
		{"a re-login stays recovered over a status 5 min ahead", func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusDead, LastStatusAt: now + 300, LastErrorCode: 401, LastErrorReason: "token_revoked"}
		}, func(t *testing.T, p *Pool, c *clock) {
			relog := ent("k1", 0, withToken("sk-relogged-key-1"), func(e *Entry) {
				e.StatusFields = StatusFields{LastStatus: StatusDead, LastStatusAt: now + 300, LastErrorCode: 401, LastErrorReason: "token_revoked"}
			})
			p.Load(snapshotOf(map[string][]Entry{prov: {relog, ent("k2", 1)}}))
			c.advance(time.Second)
			p.Load(snapshotOf(map[string][]Entry{prov: {relog, ent("k2", 1)}}))
		}, StatusOK, nil},
		{"a cooldown to 9999 is a cooldown, not a wall", func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusExhausted, LastStatusAt: now - 10, LastErrorCode: 429, LastErrorResetAt: far}
		}, func(t *testing.T, p *Pool, c *clock) {
			assert.False(t, viewOf(t, p, prov, "k1").Available)
			_, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "invalid_token"})
			require.NoError(t, err)
		}, StatusDead, nil},
		{"a timestamp within the skew counts as written", func(e *Entry) {
			e.StatusClearedAt = now + 30
		}, func(t *testing.T, p *Pool, c *clock) {
			_, err := p.Report(prov, Report{CredentialID: "k1", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
			// The report at now is before the reset at now+30: void.
		}, StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k1 := ent("k1", 0, tc.row)
			disk := map[string][]Entry{prov: {k1, ent("k2", 1)}}
			p, c := newTest(t, Config{}, cloneDisk(disk))
			tc.act(t, p, c)
			out := roundTrip(p, snapshotOf(cloneDisk(disk)))
			assert.Equal(t, tc.want, norm(entryOf(t, p, prov, "k1").LastStatus))
			// Whatever another reload brings, the answer holds.
			c.advance(time.Second)
			p.Load(snapshotOf(cloneDisk(out.Pools)))
			assert.Equal(t, tc.want, norm(entryOf(t, p, prov, "k1").LastStatus), "stable across reloads")
			if tc.check != nil {
				tc.check(t, p, out)
			}
		})
	}
}

// TestSoleCapAtReadTime: newer Hermes applies the 60 s cap for a sole
// non-billing credential when it reads and writes no reset time.
func TestSoleCapAtReadTime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		row       func(*Entry)
		available bool
	}{
		{"hermes 429 90 s ago", withStatus(StatusExhausted, 429, "rate_limit", 90*time.Second), true},
		{"hermes 429 30 s ago", withStatus(StatusExhausted, 429, "rate_limit", 30*time.Second), false},
		{"provider reset a month away", func(e *Entry) {
			withStatus(StatusExhausted, 429, "usage_limit", 90*time.Second)(e)
			e.LastErrorResetAt = epochOf(t0.Add(30 * 24 * time.Hour))
		}, true},
		{"402 is billing", withStatus(StatusExhausted, 402, "", 90*time.Second), false},
		{"billing failure_reason", func(e *Entry) {
			withStatus(StatusExhausted, 429, "", 90*time.Second)(e)
			e.FailureReason = FailureBilling
		}, false},
		{"billing_unverified counts as billing", func(e *Entry) {
			withStatus(StatusExhausted, 429, "", 90*time.Second)(e)
			e.FailureReason = FailureBillingUnverified
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, tc.row), ent("d", 1, deadAgo(time.Hour))}})
			assert.Equal(t, tc.available, viewOf(t, p, prov, "a").Available)
		})
	}
}

// TestModelCooldowns: issue 11's per-model cooldowns, compatible with
// Hermes' model_cooldowns.
func TestModelCooldowns(t *testing.T) {
	disk := func() map[string][]Entry {
		return map[string][]Entry{"anthropic": {ent("a", 0), ent("b", 1)}}
	}
	t.Run("an anthropic 429 for model A leaves the key for model B", func(t *testing.T) {
		p, c := newTest(t, Config{}, disk())
		res, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "claude-a"})
		require.NoError(t, err)
		assert.Equal(t, &Marked{ID: "a", Status: StatusOK, Until: c.epochOf() + 3600, Model: "claude-a"}, res.Marked)
		sel := func(model string) string {
			s, err := p.Select("anthropic", SelectOptions{Model: model})
			require.NoError(t, err)
			return s.Credential.ID
		}
		assert.Equal(t, "b", sel("claude-a"))
		assert.Equal(t, "a", sel("claude-b"))
		assert.Equal(t, "b", sel(""), "a caller that does not know its model stays on the safe side")
		assert.Equal(t, StatusOK, viewOf(t, p, "anthropic", "a").Status)
		assert.InDelta(t, c.epochOf()+3600, viewOf(t, p, "anthropic", "a").ModelCooldowns["claude-a"], 1e-6)
		require.True(t, hasChange(res.Changes, ChangeModelCooldown, "a"))
		out := roundTrip(p, snapshotOf(disk()))
		assert.InDelta(t, c.epochOf()+3600, out.Pools["anthropic"][0].ModelCooldowns["claude-a"], 1e-6)
		assert.InDelta(t, c.epochOf(), out.Pools["anthropic"][0].ModelCooldownObservedAt["claude-a"], 1e-6)
		assert.Equal(t, StatusFields{}, out.Pools["anthropic"][0].StatusFields)
	})
	t.Run("what is model-scoped", func(t *testing.T) {
		for _, tc := range []struct {
			provider string
			r        Report
			scoped   bool
			until    float64 // seconds from now
		}{
			{"anthropic", Report{StatusCode: 429, Model: "m"}, true, 3600},
			{"anthropic", Report{StatusCode: 429, Model: "m", FailureReason: "billing"}, false, 3600},
			{"anthropic", Report{StatusCode: 429}, false, 3600},
			{"anthropic", Report{StatusCode: 503, Model: "m"}, false, 3600},
			{"openai", Report{StatusCode: 429, Model: "m"}, false, 3600},
			{"openai", Report{StatusCode: 403, Model: "m", FailureReason: "model_entitlement"}, true, 2 * 86400},
			{"openai", Report{StatusCode: 429, Model: "m", RetryAfter: "120"}, false, 120},
			{"anthropic", Report{StatusCode: 429, Model: "m", RetryAfter: "120"}, true, 120},
		} {
			p, c := newTest(t, Config{}, map[string][]Entry{tc.provider: {ent("a", 0), ent("b", 1)}})
			tc.r.CredentialID = "a"
			res, err := p.Report(tc.provider, tc.r)
			require.NoError(t, err)
			assert.Equal(t, tc.scoped, res.Marked.Model != "", "%s %+v", tc.provider, tc.r)
			assert.InDelta(t, c.epochOf()+tc.until, res.Marked.Until, 1e-6, "%s %+v", tc.provider, tc.r)
		}
	})
	t.Run("the Retry-After of a model-scoped 429 benches only that model", func(t *testing.T) {
		p, c := newTest(t, Config{}, disk())
		res, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "claude-a",
			Headers: map[string]string{"retry-after": "120", "anthropic-ratelimit-requests-remaining": "40",
				"anthropic-ratelimit-requests-limit": "50"}})
		require.NoError(t, err)
		assert.InDelta(t, c.epochOf()+120, res.Marked.Until, 1e-6, "the header's Retry-After is the model's cooldown")
		assert.Equal(t, "a", selectID(t, p, "anthropic", SelectOptions{Model: "claude-b"}))
		assert.Equal(t, "b", selectID(t, p, "anthropic", SelectOptions{Model: "claude-a"}))
		q := viewOf(t, p, "anthropic", "a").Quota
		require.Len(t, q, 1, "the budget is kept; the Retry-After is the model cooldown's")
		assert.Equal(t, "anthropic/requests", q[0].Key)
		// A credential-wide 429 keeps its Retry-After window.
		_, err = p.Report("anthropic", Report{CredentialID: "b", StatusCode: 429, FailureReason: "billing", Model: "claude-a",
			Headers: map[string]string{"retry-after": "120"}})
		require.NoError(t, err)
		assert.Equal(t, "http/retry-after", viewOf(t, p, "anthropic", "b").Quota[0].Key)
	})
	t.Run("a sole key is benched 60 s for the model", func(t *testing.T) {
		p, c := newTest(t, Config{}, map[string][]Entry{"anthropic": {ent("a", 0)}})
		res, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "m"})
		require.NoError(t, err)
		assert.InDelta(t, c.epochOf()+60, res.Marked.Until, 1e-6)
	})
	t.Run("merge with the file by the larger value; a reset drops older ones", func(t *testing.T) {
		p, c := newTest(t, Config{}, disk())
		_, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "m1"})
		require.NoError(t, err)
		theirs := ent("a", 0, func(e *Entry) {
			e.ModelCooldowns = map[string]float64{"m1": c.epochOf() + 10, "m2": c.epochOf() + 7200}
			e.ModelCooldownObservedAt = map[string]float64{"m1": c.epochOf(), "m2": c.epochOf()}
		})
		p.Load(snapshotOf(map[string][]Entry{"anthropic": {theirs, ent("b", 1)}}))
		mc := viewOf(t, p, "anthropic", "a").ModelCooldowns
		assert.InDelta(t, c.epochOf()+3600, mc["m1"], 1e-6, "ours is longer")
		assert.InDelta(t, c.epochOf()+7200, mc["m2"], 1e-6, "theirs is taken")
		c.advance(time.Second)
		reset := ent("a", 0, func(e *Entry) { e.StatusClearedAt = c.epochOf() })
		p.Load(snapshotOf(map[string][]Entry{"anthropic": {reset, ent("b", 1)}}))
		assert.Empty(t, viewOf(t, p, "anthropic", "a").ModelCooldowns, "a reset drops those observed before it")
	})
	t.Run("a stale writer that drops them is undone", func(t *testing.T) {
		p, c := newTest(t, Config{}, disk())
		_, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "m1"})
		require.NoError(t, err)
		roundTrip(p, snapshotOf(disk()))
		stale := snapshotOf(disk()) // Hermes' old snapshot rewrites the row without them
		p.Load(stale)
		assert.True(t, urgent(p))
		out := roundTrip(p, stale)
		assert.InDelta(t, c.epochOf()+3600, out.Pools["anthropic"][0].ModelCooldowns["m1"], 1e-6)
	})
	t.Run("stored ends more than 30 days ahead are cut back to 2 days", func(t *testing.T) {
		now := epochOf(t0)
		far := ent("a", 0, func(e *Entry) {
			e.ModelCooldowns = map[string]float64{"m": now + 90*86400}
			e.ModelCooldownObservedAt = map[string]float64{"m": now}
		})
		p, c := newTest(t, Config{}, map[string][]Entry{"anthropic": {far, ent("b", 1)}})
		assert.InDelta(t, now+2*86400, viewOf(t, p, "anthropic", "a").ModelCooldowns["m"], 1e-6)
		c.advance(time.Hour)
		p.Load(snapshotOf(map[string][]Entry{"anthropic": {far, ent("b", 1)}}))
		assert.InDelta(t, now+2*86400, viewOf(t, p, "anthropic", "a").ModelCooldowns["m"], 1e-6, "cut once, from when it was first read")
	})
	t.Run("new tokens end model cooldowns", func(t *testing.T) {
		p, _ := newTest(t, Config{}, disk())
		_, err := p.Report("anthropic", Report{CredentialID: "a", StatusCode: 429, Model: "m1"})
		require.NoError(t, err)
		p.Load(snapshotOf(map[string][]Entry{"anthropic": {ent("a", 0, withToken("sk-relogged-key-1")), ent("b", 1)}}))
		assert.Empty(t, viewOf(t, p, "anthropic", "a").ModelCooldowns)
	})
	t.Run("the 503 and next_available_at count them", func(t *testing.T) {
		p, c := newTest(t, Config{}, map[string][]Entry{"anthropic": {ent("a", 0), ent("b", 1)}})
		for _, id := range []string{"a", "b"} {
			_, err := p.Report("anthropic", Report{CredentialID: id, StatusCode: 429, Model: "m", RetryAfter: "100"})
			require.NoError(t, err)
		}
		_, err := p.Select("anthropic", SelectOptions{Model: "m"})
		var none *NoneAvailableError
		require.ErrorAs(t, err, &none)
		assert.InDelta(t, c.epochOf()+100, none.NextAvailableAt, 1e-6)
		assert.InDelta(t, c.epochOf()+100, p.NextWake(), 1e-6)
	})
}
