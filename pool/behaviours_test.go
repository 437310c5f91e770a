package pool

// The 14 behaviours of issue 2 that users of the Hermes pool rely on. All
// entries are built in Go and every time comes from a fake clock: pool has
// no I/O, nothing here reads a file.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const prov = "openrouter"

func TestB01FillFirstSkipsFreshlyExhausted(t *testing.T) {
	for _, tc := range []struct {
		name string
		age  time.Duration
		want string
	}{
		{"402 a moment ago", time.Second, "b"},
		{"402 a minute ago", time.Minute, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {
				ent("a", 0, exhaustedAgo(402, tc.age)), ent("b", 1), ent("c", 2)}})
			assert.Equal(t, tc.want, selectID(t, p, prov, SelectOptions{}))
		})
	}
}

func TestB02OldExhaustionIsOverAndReadsOK(t *testing.T) {
	for _, code := range []int{402, 429} {
		t.Run(http(code), func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {
				ent("a", 0, exhaustedAgo(code, 25*time.Hour)), ent("b", 1)}})
			assert.True(t, viewOf(t, p, prov, "a").Available)
			sel, err := p.Select(prov, SelectOptions{})
			require.NoError(t, err)
			assert.Equal(t, "a", sel.Credential.ID)
			require.Len(t, sel.Changes, 1)
			assert.Equal(t, ChangeRecovered, sel.Changes[0].Kind)
			assert.Equal(t, "ttl", sel.Changes[0].Cause)
			assert.Equal(t, StatusOK, viewOf(t, p, prov, "a").Status)
			assert.Equal(t, StatusFields{}, entryOf(t, p, prov, "a").StatusFields)
			assert.True(t, pending(p), "the recovery is written with the batched changes")
		})
	}
}

func http(code int) string { return "code " + itoa(code) }

func TestB03TTLsAre1hAnd5min(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		age       time.Duration
		recovered bool
	}{
		{"402 from 3700s ago", 402, 3700 * time.Second, true},
		{"402 from 3500s ago", 402, 3500 * time.Second, false},
		{"429 from 3601s ago", 429, 3601 * time.Second, true},
		{"401 from 310s ago", 401, 310 * time.Second, true},
		{"401 from 290s ago", 401, 290 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {
				ent("a", 0, exhaustedAgo(tc.code, tc.age)), ent("b", 1)}})
			want := "b"
			if tc.recovered {
				want = "a"
			}
			assert.Equal(t, want, selectID(t, p, prov, SelectOptions{}))
		})
	}
}

func TestB04ProviderResetDaysAheadWins(t *testing.T) {
	reset := epochOf(t0.Add(7 * 24 * time.Hour))
	for _, tc := range []struct {
		name    string
		entries []Entry
	}{
		{"beside an exhausted one", []Entry{
			ent("a", 0, exhaustedAgo(429, 2*time.Hour), func(e *Entry) { e.LastErrorResetAt = reset }),
			ent("b", 1, exhaustedAgo(429, 2*time.Hour), func(e *Entry) { e.LastErrorResetAt = reset + 60 })}},
		{"beside a billing one", []Entry{
			ent("a", 0, exhaustedAgo(429, 2*time.Hour), func(e *Entry) { e.LastErrorResetAt = reset }),
			ent("b", 1, exhaustedAgo(402, time.Minute), func(e *Entry) { e.LastErrorResetAt = reset + 60 })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: tc.entries})
			_, err := p.Select(prov, SelectOptions{})
			var none *NoneAvailableError
			require.ErrorAs(t, err, &none)
			assert.InDelta(t, reset, none.NextAvailableAt, 1e-6)
			v, err := p.View(prov)
			require.NoError(t, err)
			assert.InDelta(t, reset, v.NextAvailableAt, 1e-6)
			assert.Equal(t, 0, v.Available)
			assert.Equal(t, StatusExhausted, viewOf(t, p, prov, "a").Status)
		})
	}
	// Newer Hermes caps a sole key when it reads, provider reset or not: a
	// monthly 429 must not bench the only key for a month.
	for _, tc := range []struct {
		name    string
		entries []Entry
	}{
		{"sole entry", []Entry{ent("a", 0, exhaustedAgo(429, 2*time.Minute), func(e *Entry) { e.LastErrorResetAt = reset })}},
		{"beside a dead one", []Entry{
			ent("a", 0, exhaustedAgo(429, 2*time.Minute), func(e *Entry) { e.LastErrorResetAt = reset }),
			ent("d", 1, deadAgo(time.Hour))}},
	} {
		t.Run(tc.name+" is capped to 60 s when read", func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: tc.entries})
			assert.Equal(t, "a", selectID(t, p, prov, SelectOptions{}))
		})
	}
}

func TestB05Report402MarksAndRotates(t *testing.T) {
	for _, strat := range []Strategy{FillFirst, RoundRobin, LeastUsed} {
		t.Run(string(strat), func(t *testing.T) {
			p, c := newTest(t, Config{DefaultStrategy: strat}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
			res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 402, Reason: "insufficient_credits"})
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			assert.Equal(t, Marked{ID: "a", Status: StatusExhausted, Until: c.epochOf() + 3600}, *res.Marked)
			e := entryOf(t, p, prov, "a")
			assert.Equal(t, StatusExhausted, e.LastStatus)
			assert.Equal(t, 402, e.LastErrorCode)
			require.NotNil(t, res.Next)
			assert.Equal(t, "b", res.Next.ID)
			assert.Equal(t, "b", selectID(t, p, prov, SelectOptions{}))
		})
	}
}

func TestB06TerminalReasonsMarkDead(t *testing.T) {
	reasons := []string{"token_invalidated", "token_revoked", "invalid_token", "invalid_grant",
		"unauthorized_client", "refresh_token_reused", "  TOKEN_INVALIDATED ", "Invalid_Grant\n", " refresh_token_REUSED"}
	for _, reason := range reasons {
		t.Run(reason, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2, deadAgo(time.Hour))}})
			res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 401, Reason: reason})
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			assert.Equal(t, Marked{ID: "a", Status: StatusDead}, *res.Marked)
			require.NotNil(t, res.Next)
			assert.Equal(t, "b", res.Next.ID)
			require.Len(t, res.Changes, 1)
			assert.Equal(t, ChangeDead, res.Changes[0].Kind)
		})
	}
}

func TestB07DeadNeverEndsByTime(t *testing.T) {
	for _, later := range []time.Duration{0, time.Hour, 30 * 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
		t.Run(later.String(), func(t *testing.T) {
			p, c := newTest(t, Config{}, map[string][]Entry{prov: {
				ent("a", 0, deadAgo(2*time.Hour), withSource("device_code")), ent("b", 1)}})
			c.advance(later)
			p.Tick()
			assert.Equal(t, "b", selectID(t, p, prov, SelectOptions{}))
			assert.Equal(t, StatusDead, viewOf(t, p, prov, "a").Status)
			assert.False(t, viewOf(t, p, prov, "a").Available)
		})
	}
}

func TestB08SoftErrorsAreExhaustedNotDead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		reason string
	}{
		{"429 rate_limit_exceeded", 429, "rate_limit_exceeded"},
		{"401 without reason", 401, ""},
		{"401 with another reason", 401, "expired"},
		{"403 token_revoked", 403, "token_revoked"},
		{"402 invalid_grant", 402, "invalid_grant"},
		{"500", 500, "token_invalidated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
			res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: tc.code, Reason: tc.reason})
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			assert.Equal(t, StatusExhausted, res.Marked.Status)
			assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "a").LastStatus)
		})
	}
}

func TestB09PruneOnlyOldManualDead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source string
		age    time.Duration
		pruned bool
	}{
		{"manual:device_code 25h", "manual:device_code", 25 * time.Hour, true},
		{"manual 25h", "manual", 25 * time.Hour, true},
		{"manual:device_code 1h", "manual:device_code", time.Hour, false},
		{"device_code 48h", "device_code", 48 * time.Hour, false},
		{"claude_code 48h", "claude_code", 48 * time.Hour, false},
		{"hermes_pkce 48h", "hermes_pkce", 48 * time.Hour, false},
		{"env 48h", "env:OPENROUTER_API_KEY", 48 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{PruneDeadAfter: 24 * time.Hour}, map[string][]Entry{prov: {
				ent("a", 0, deadAgo(tc.age), withSource(tc.source))}})
			changes := p.Tick()
			_, entries := p.Counts()
			if tc.pruned {
				assert.Equal(t, 0, entries)
				require.Len(t, changes, 1)
				assert.Equal(t, ChangePruned, changes[0].Kind)
				assert.True(t, urgent(p))
				s := roundTrip(p, snapshotOf(map[string][]Entry{prov: {ent("a", 0, deadAgo(tc.age), withSource(tc.source))}}))
				assert.Empty(t, s.Pools[prov], "the prune reaches the file")
				return
			}
			assert.Equal(t, 1, entries)
			assert.Empty(t, changes)
			assert.Equal(t, StatusDead, viewOf(t, p, prov, "a").Status)
			assert.Equal(t, "", selectID(t, p, prov, SelectOptions{}))
		})
	}
}

func TestB10RoundRobinTakesTurnsAcrossAWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before int // selections before the write and re-read
	}{{"after 1", 1}, {"after 2", 2}, {"after 4", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			disk := map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}}
			cfg := Config{Strategies: map[string]Strategy{prov: RoundRobin}}
			p, _ := newTest(t, cfg, disk)
			var got []string
			for range tc.before {
				got = append(got, selectID(t, p, prov, SelectOptions{}))
			}
			snap := roundTrip(p, snapshotOf(cloneDisk(disk)))
			q, _ := newTest(t, cfg, snap.Pools)
			for range 6 - tc.before {
				got = append(got, selectID(t, q, prov, SelectOptions{}))
			}
			assert.Equal(t, []string{"a", "b", "c", "a", "b", "c"}, got)
		})
	}
}

func cloneDisk(in map[string][]Entry) map[string][]Entry {
	out := make(map[string][]Entry, len(in))
	for k, v := range in {
		out[k] = append([]Entry(nil), v...)
	}
	return out
}

func TestB11LeastUsedAndRandom(t *testing.T) {
	t.Run("least_used picks the lowest count", func(t *testing.T) {
		p, _ := newTest(t, Config{DefaultStrategy: LeastUsed}, map[string][]Entry{prov: {
			ent("a", 0, withCount(9)), ent("b", 1, withCount(3)), ent("c", 2, withCount(3)), ent("d", 3, withCount(1), deadAgo(time.Hour))}})
		var got []string
		for range 4 {
			got = append(got, selectID(t, p, prov, SelectOptions{}))
		}
		// b and c tie at 3 (priority decides), then count up in turn.
		assert.Equal(t, []string{"b", "c", "b", "c"}, got)
	})
	t.Run("random only picks available entries", func(t *testing.T) {
		p, _ := newTest(t, Config{DefaultStrategy: Random}, map[string][]Entry{prov: {
			ent("a", 0), ent("x", 1, deadAgo(time.Hour)), ent("b", 2), ent("y", 3, exhaustedAgo(429, time.Minute)),
			ent("c", 4), ent("z", 5, withToken(""))}})
		seen := map[string]int{}
		for range 300 {
			seen[selectID(t, p, prov, SelectOptions{})]++
		}
		assert.Len(t, seen, 3, "%v", seen)
		for _, id := range []string{"a", "b", "c"} {
			assert.Greater(t, seen[id], 60, "%s is picked about a third of the time: %v", id, seen)
		}
	})
}

func TestB12SoleCredentialCooldown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
		report  Report
		back    time.Duration
	}{
		{"429 alone", []Entry{ent("a", 0)}, Report{CredentialID: "a", StatusCode: 429}, 60 * time.Second},
		{"429 beside dead", []Entry{ent("a", 0), ent("d", 1, deadAgo(time.Hour))}, Report{CredentialID: "a", StatusCode: 429}, 60 * time.Second},
		{"401 alone", []Entry{ent("a", 0)}, Report{CredentialID: "a", StatusCode: 401}, 60 * time.Second},
		{"402 alone", []Entry{ent("a", 0)}, Report{CredentialID: "a", StatusCode: 402}, time.Hour},
		{"429 billing alone", []Entry{ent("a", 0)}, Report{CredentialID: "a", StatusCode: 429, FailureReason: "billing"}, time.Hour},
		{"429 with a second", []Entry{ent("a", 0), ent("b", 1, exhaustedAgo(429, time.Minute))}, Report{CredentialID: "a", StatusCode: 429}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := map[string][]Entry{prov: tc.entries}
			p, c := newTest(t, Config{}, disk)
			res, err := p.Report(prov, tc.report)
			require.NoError(t, err)
			assert.InDelta(t, c.epochOf()+tc.back.Seconds(), res.Marked.Until, 1e-6)
			// A restarted daemon (or Hermes) reading the file agrees.
			snap := roundTrip(p, snapshotOf(cloneDisk(disk)))
			q, qc := newTest(t, Config{}, snap.Pools)
			for _, pl := range []*Pool{p, q} {
				c.t, qc.t = t0.Add(tc.back-time.Second), t0.Add(tc.back-time.Second)
				assert.False(t, viewOf(t, pl, prov, "a").Available)
				c.t, qc.t = t0.Add(tc.back+time.Second), t0.Add(tc.back+time.Second)
				assert.Equal(t, "a", selectID(t, pl, prov, SelectOptions{}))
			}
		})
	}
}

func TestB13ReauthFromSingleton(t *testing.T) {
	const old, fresh = "singleton-access-old", "singleton-access-new"
	for _, tc := range []struct {
		name      string
		entry     Entry
		recovered bool
	}{
		{"device_code dead", ent("a", 0, withSource("device_code"), withToken(old), deadAgo(2*time.Hour)), true},
		{"device_code exhausted", ent("a", 0, withSource("device_code"), withToken(old), exhaustedAgo(402, time.Minute)), true},
		{"manual:device_code own tokens", ent("a", 0, withSource("manual:device_code"), deadAgo(2*time.Hour)), false},
		{"manual:device_code alias of the old singleton", ent("a", 0, withSource("manual:device_code"), withToken(old), deadAgo(2*time.Hour)), true},
		{"manual own tokens", ent("a", 0, withSource("manual"), withToken(old), deadAgo(2*time.Hour)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := map[string][]Entry{prov: {tc.entry}}
			p := New(Config{Now: (&clock{t: t0}).Now})
			sing := func(a string) map[string]Singleton {
				return map[string]Singleton{prov: {Tokens{AccessToken: a, RefreshToken: "r-" + a}}}
			}
			p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(old)})
			require.Equal(t, tc.entry.LastStatus, entryOf(t, p, prov, "a").LastStatus)
			roundTrip(p, Snapshot{Pools: cloneDisk(disk), Singletons: sing(old)})
			changes := p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(fresh)})
			e := entryOf(t, p, prov, "a")
			if !tc.recovered {
				assert.Empty(t, changes)
				assert.Equal(t, tc.entry.LastStatus, e.LastStatus)
				assert.Equal(t, tc.entry.AccessToken, e.AccessToken)
				assert.Equal(t, "", selectID(t, p, prov, SelectOptions{}))
				return
			}
			require.Len(t, changes, 1)
			assert.Equal(t, ChangeRecovered, changes[0].Kind)
			assert.Equal(t, "reauth", changes[0].Cause)
			assertNoSecrets(t, changes, old, fresh, "r-"+fresh)
			assert.Equal(t, fresh, e.AccessToken)
			assert.Equal(t, "r-"+fresh, e.RefreshToken)
			sel, err := p.Select(prov, SelectOptions{})
			require.NoError(t, err)
			assert.Equal(t, fresh, sel.Credential.AccessToken)
			// The adopted tokens and the cleared status reach the file.
			snap := roundTrip(p, snapshotOf(cloneDisk(disk)))
			row := snap.Pools[prov][0]
			assert.Equal(t, fresh, row.AccessToken)
			assert.Equal(t, StatusFields{}, row.StatusFields)
		})
	}
}

func TestB14SixFieldsOnEveryTransition(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(p *Pool, c *clock) // brings entry a into a status
		want StatusFields
	}{
		{"exhausted by report with reset", func(p *Pool, c *clock) {
			_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429, Reason: "rate_limit_exceeded",
				Message: "slow down", ResetAt: "1780322400"})
			require.NoError(t, err)
		}, StatusFields{StatusExhausted, epochOf(t0), 429, "rate_limit_exceeded", "slow down", 1780322400, ""}},
		{"dead by report", func(p *Pool, c *clock) {
			_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 401, Reason: "token_revoked", Message: "revoked"})
			require.NoError(t, err)
		}, StatusFields{StatusDead, epochOf(t0), 401, "token_revoked", "revoked", 0, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}}
			p, c := newTest(t, Config{}, disk)
			tc.do(p, c)
			e := entryOf(t, p, prov, "a")
			assert.Equal(t, tc.want, e.StatusFields)
			snap := roundTrip(p, snapshotOf(cloneDisk(disk)))
			assert.Equal(t, tc.want, snap.Pools[prov][0].StatusFields, "all six reach the file")

			// Every way back clears all six.
			for _, back := range []struct {
				name string
				do   func(p *Pool, c *clock)
			}{
				{"admin reset", func(p *Pool, c *clock) { _, _, err := p.Reset(prov, "a"); require.NoError(t, err) }},
				{"tick after cooldown", func(p *Pool, c *clock) { c.advance(1000 * time.Hour); p.Tick() }},
			} {
				if back.name == "tick after cooldown" && tc.want.LastStatus == StatusDead {
					continue
				}
				t.Run(back.name, func(t *testing.T) {
					q, qc := newTest(t, Config{}, cloneDisk(snap.Pools))
					back.do(q, qc)
					assert.Equal(t, StatusFields{}, entryOf(t, q, prov, "a").StatusFields)
					after := roundTrip(q, snapshotOf(cloneDisk(snap.Pools)))
					assert.Equal(t, StatusFields{}, after.Pools[prov][0].StatusFields)
				})
			}
		})
	}
}
