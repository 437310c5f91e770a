package pool

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelectErrors(t *testing.T) {
	p, _ := newTest(t, Config{Strategies: map[string]Strategy{"bad": "fastest"}}, map[string][]Entry{
		prov: {ent("a", 0)}, "bad": {ent("b", 0)}, "empty": {},
		"tokenless": {ent("e", 0, withToken(""), withSource("env:KEY"))},
		"deadonly":  {ent("d", 0, deadAgo(time.Hour))},
	})
	for _, tc := range []struct {
		name     string
		provider string
		opt      SelectOptions
		want     error
	}{
		{"unknown pool", "nope", SelectOptions{}, ErrUnknownPool},
		{"unknown strategy asked", prov, SelectOptions{Strategy: "best"}, ErrUnknownStrategy},
		{"unknown strategy configured", "bad", SelectOptions{}, ErrUnknownStrategy},
		{"empty pool", "empty", SelectOptions{}, ErrNoneAvailable},
		{"tokenless only", "tokenless", SelectOptions{}, ErrNoneAvailable},
		{"dead only", "deadonly", SelectOptions{}, ErrNoneAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Select(tc.provider, tc.opt)
			require.ErrorIs(t, err, tc.want)
			var none *NoneAvailableError
			if errorsAs(err, &none) {
				assert.Zero(t, none.NextAvailableAt, "only DEAD or tokenless entries: no recovery time")
				assert.Equal(t, tc.provider, none.Provider)
			}
		})
	}
}

func TestSelectCountsAndQueuesBatched(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, withCount(5)), ent("b", 1)}})
	for range 3 {
		sel, err := p.Select(prov, SelectOptions{})
		require.NoError(t, err)
		assert.Nil(t, sel.Changes)
		assert.Nil(t, sel.Lease)
	}
	assert.Equal(t, 8, entryOf(t, p, prov, "a").RequestCount)
	assert.True(t, pending(p))
	assert.False(t, urgent(p), "counts are batched")
	disk := roundTrip(p, snapshotOf(map[string][]Entry{prov: {ent("a", 0, withCount(5)), ent("b", 1)}}))
	assert.Equal(t, 8, disk.Pools[prov][0].RequestCount)
	assert.False(t, pending(p))
}

func TestSelectOrderTies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		strat   Strategy
		entries []Entry
		want    []string
	}{
		{"fill_first ties by file order", FillFirst, []Entry{ent("x", 1), ent("y", 0), ent("z", 0)}, []string{"y", "y"}},
		{"round_robin skips unavailable", RoundRobin, []Entry{ent("a", 0), ent("b", 1, deadAgo(time.Hour)), ent("c", 2)}, []string{"a", "c", "a", "c"}},
		{"round_robin from odd priorities", RoundRobin, []Entry{ent("a", 5), ent("b", 5), ent("c", 9)}, []string{"a", "b", "c", "a"}},
		{"least_used ties by priority", LeastUsed, []Entry{ent("a", 2), ent("b", 1), ent("c", 0, withCount(1))}, []string{"b", "a", "c", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{DefaultStrategy: tc.strat}, map[string][]Entry{prov: tc.entries})
			var got []string
			for range tc.want {
				got = append(got, selectID(t, p, prov, SelectOptions{}))
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRoundRobinRenumbersAndQueuesPriorities(t *testing.T) {
	p, _ := newTest(t, Config{DefaultStrategy: RoundRobin}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}})
	selectID(t, p, prov, SelectOptions{})
	prios := map[string]int{}
	for _, e := range p.pools[prov].entries {
		prios[e.ID] = e.Priority
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 0, "c": 1}, prios)
	assert.False(t, urgent(p))
	disk := roundTrip(p, snapshotOf(map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}}))
	for _, d := range disk.Pools[prov] {
		assert.Equal(t, prios[d.ID], d.Priority, d.ID)
	}
}

func TestRandomIsSeedable(t *testing.T) {
	run := func() []string {
		p, _ := newTest(t, Config{DefaultStrategy: Random}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}})
		var got []string
		for range 20 {
			got = append(got, selectID(t, p, prov, SelectOptions{}))
		}
		return got
	}
	assert.Equal(t, run(), run())
}

func TestLeases(t *testing.T) {
	entries := func() map[string][]Entry {
		return map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2, deadAgo(time.Hour))}}
	}
	t.Run("cap then least-leased", func(t *testing.T) {
		p, c := newTest(t, Config{}, entries())
		var got []string
		for range 5 {
			sel, err := p.Select(prov, SelectOptions{Lease: true})
			require.NoError(t, err)
			require.NotNil(t, sel.Lease)
			assert.Len(t, sel.Lease.ID, 16)
			assert.InDelta(t, c.epochOf()+600, sel.Lease.ExpiresAt, 1e-6)
			got = append(got, sel.Credential.ID)
		}
		assert.Equal(t, []string{"a", "b", "a", "b", "a"}, got)
		assert.Equal(t, 3, viewOf(t, p, prov, "a").Leases)
		assert.Equal(t, 2, viewOf(t, p, prov, "b").Leases)
	})
	t.Run("max_leases 2", func(t *testing.T) {
		p, _ := newTest(t, Config{MaxLeases: 2}, entries())
		var got []string
		for range 5 {
			got = append(got, selectID(t, p, prov, SelectOptions{Lease: true}))
		}
		assert.Equal(t, []string{"a", "a", "b", "b", "a"}, got)
	})
	t.Run("selects without lease ignore leases", func(t *testing.T) {
		p, _ := newTest(t, Config{}, entries())
		selectID(t, p, prov, SelectOptions{Lease: true})
		assert.Equal(t, "a", selectID(t, p, prov, SelectOptions{}))
	})
	t.Run("release frees the credential", func(t *testing.T) {
		p, _ := newTest(t, Config{}, entries())
		sel, err := p.Select(prov, SelectOptions{Lease: true})
		require.NoError(t, err)
		require.NoError(t, p.Release(sel.Lease.ID))
		assert.ErrorIs(t, p.Release(sel.Lease.ID), ErrUnknownLease)
		assert.ErrorIs(t, p.Release("0000000000000000"), ErrUnknownLease)
		assert.Equal(t, "a", selectID(t, p, prov, SelectOptions{Lease: true}))
	})
	t.Run("expiry", func(t *testing.T) {
		p, c := newTest(t, Config{LeaseTTL: time.Minute}, entries())
		sel, err := p.Select(prov, SelectOptions{Lease: true})
		require.NoError(t, err)
		assert.InDelta(t, sel.Lease.ExpiresAt, p.NextWake(), 1e-6)
		c.advance(time.Minute)
		assert.Equal(t, 0, viewOf(t, p, prov, "a").Leases, "expired leases stop counting")
		assert.Equal(t, "a", selectID(t, p, prov, SelectOptions{Lease: true}), "the expired lease is swept on select")
		c.advance(2 * time.Minute)
		assert.ErrorIs(t, p.Release(sel.Lease.ID), ErrUnknownLease)
		p.Tick()
		assert.Empty(t, p.leases, "tick removes expired leases")
		assert.Zero(t, p.NextWake())
	})
	t.Run("removing an entry drops its leases", func(t *testing.T) {
		p, _ := newTest(t, Config{}, entries())
		sel, err := p.Select(prov, SelectOptions{Lease: true})
		require.NoError(t, err)
		_, _, err = p.Remove(prov, "a")
		require.NoError(t, err)
		assert.ErrorIs(t, p.Release(sel.Lease.ID), ErrUnknownLease)
	})
	t.Run("round_robin with leases", func(t *testing.T) {
		p, _ := newTest(t, Config{DefaultStrategy: RoundRobin}, entries())
		var got []string
		for range 4 {
			got = append(got, selectID(t, p, prov, SelectOptions{Lease: true}))
		}
		assert.Equal(t, []string{"a", "b", "a", "b"}, got)
	})
}

func TestNextWakeAndNextAvailable(t *testing.T) {
	p, c := newTest(t, Config{}, map[string][]Entry{
		prov:    {ent("a", 0, exhaustedAgo(429, 50*time.Minute)), ent("b", 1, exhaustedAgo(401, time.Minute)), ent("d", 2, deadAgo(time.Hour))},
		"other": {ent("x", 0, exhaustedAgo(429, 30*time.Minute)), ent("t", 1, withToken(""), exhaustedAgo(429, 59*time.Minute))},
	})
	v, err := p.View(prov)
	require.NoError(t, err)
	assert.InDelta(t, c.epochOf()+240, v.NextAvailableAt, 1e-6, "b's 5 min cooldown ends first")
	assert.InDelta(t, c.epochOf()+240, p.NextWake(), 1e-6)
	o, err := p.View("other")
	require.NoError(t, err)
	assert.InDelta(t, c.epochOf()+1800, o.NextAvailableAt, 1e-6, "a tokenless entry never becomes available")
	c.advance(5 * time.Minute)
	assert.InDelta(t, epochOf(t0)+600, p.NextWake(), 1e-6, "ended cooldowns are not in the future")
}

func TestTickRecoversEndedCooldownsEverywhere(t *testing.T) {
	p, c := newTest(t, Config{}, map[string][]Entry{
		prov:    {ent("a", 0, exhaustedAgo(429, 50*time.Minute)), ent("b", 1, exhaustedAgo(401, time.Minute))},
		"other": {ent("x", 0, exhaustedAgo(429, 30*time.Minute)), ent("y", 1, deadAgo(time.Minute)), ent("z", 2, exhaustedAgo(402, time.Minute))},
	})
	assert.Empty(t, p.Tick())
	c.advance(30 * time.Minute)
	ch := p.Tick()
	require.Len(t, ch, 3)
	for _, x := range ch {
		assert.Equal(t, ChangeRecovered, x.Kind)
		assert.Equal(t, "ttl", x.Cause)
		assert.Equal(t, "cooldown", x.Reason)
	}
	assert.True(t, pending(p), "the recoveries are written with the batched changes")
}

// TestSelectNothingButExcluded: a select whose exclude names every entry
// that is or will become available says so (Excluded), rather than that
// only DEAD or tokenless entries remain; one that could wait says when.
func TestSelectNothingButExcluded(t *testing.T) {
	cooling := exhaustedAgo(429, 30*time.Second) // back in 3570 s, 30 s when sole
	for _, tc := range []struct {
		name     string
		a, b     []func(*Entry)
		exclude  []string
		next     float64 // NextAvailableAt, seconds from now; 0 none
		excluded bool
	}{
		{"the only live entry excluded", nil, []func(*Entry){deadAgo(time.Hour)}, []string{"a"}, 0, true},
		{"every entry excluded", nil, nil, []string{"a", "b"}, 0, true},
		{"a cooling entry excluded, the other dead", []func(*Entry){cooling}, []func(*Entry){deadAgo(time.Hour)}, []string{"a"}, 0, true},
		{"the excluded entry is dead, the other cooling", []func(*Entry){deadAgo(time.Hour)}, []func(*Entry){cooling}, []string{"a"}, 30, false},
		{"an excluded entry and a cooling one", nil, []func(*Entry){cooling}, []string{"a"}, 3570, false},
		{"nothing excluded, all dead", []func(*Entry){deadAgo(time.Hour)}, []func(*Entry){deadAgo(time.Hour)}, nil, 0, false},
		{"a dead entry excluded, all dead", []func(*Entry){deadAgo(time.Hour)}, []func(*Entry){deadAgo(time.Hour)}, []string{"a"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, tc.a...), ent("b", 1, tc.b...)}})
			_, err := p.Select(prov, SelectOptions{Exclude: tc.exclude})
			var none *NoneAvailableError
			require.ErrorAs(t, err, &none)
			assert.ErrorIs(t, err, ErrNoneAvailable)
			if tc.next == 0 {
				assert.Zero(t, none.NextAvailableAt)
			} else {
				assert.InDelta(t, epochOf(t0)+tc.next, none.NextAvailableAt, 1e-3)
			}
			assert.Equal(t, tc.excluded, none.Excluded)
			assert.Equal(t, tc.excluded, strings.Contains(err.Error(), "excludes"), err.Error())
		})
	}
}

// TestCallerTextInErrorsIsBounded: what a caller names (a provider from
// the path, a strategy, a target) comes back in an error quoted, escaped
// and cut, however long it was.
func TestCallerTextInErrorsIsBounded(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	huge := "\x1b[2J" + strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"select, unknown pool", func() error { _, err := p.Select(huge, SelectOptions{}); return err }},
		{"select, unknown strategy", func() error { _, err := p.Select(prov, SelectOptions{Strategy: Strategy(huge)}); return err }},
		{"report", func() error { _, err := p.Report(huge, Report{StatusCode: 429}); return err }},
		{"view", func() error { _, err := p.View(huge); return err }},
		{"remove, unknown pool", func() error { _, _, err := p.Remove(huge, "a"); return err }},
		{"remove, unknown target", func() error { _, _, err := p.Remove(prov, huge); return err }},
		{"reset, unknown target", func() error { _, _, err := p.Reset(prov, huge); return err }},
		{"repair", func() error { _, err := p.Repair(huge); return err }},
		{"add, bad provider", func() error { _, _, err := p.Add(huge, NewEntry{AccessToken: "sk-x-0000000"}); return err }},
		{"add, bad auth type", func() error {
			_, _, err := p.Add(prov, NewEntry{AccessToken: "sk-x-0000000", AuthType: huge})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			msg := err.Error()
			assert.Less(t, len(msg), 300, msg)
			assert.Contains(t, msg, `\x1b[2Jxxx`, "escaped, not raw")
			assert.NotContains(t, msg, "\x1b")
			assert.Contains(t, msg, `x…"`, "the cut is marked")
		})
	}
}
