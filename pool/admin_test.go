package pool

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pool  string
		in    NewEntry
		err   error
		check func(t *testing.T, v EntryView)
	}{
		{"defaults", prov, NewEntry{AccessToken: " sk-new-key-0001\n"}, nil, func(t *testing.T, v EntryView) {
			assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{6}$`), v.ID)
			assert.Equal(t, "manual", v.Source)
			assert.Equal(t, "api_key", v.AuthType)
			assert.Equal(t, 6, v.Priority, "after the last (priority 5)")
			assert.Equal(t, prov+"-3", v.Label)
			assert.Equal(t, "0001", v.TokenHint)
			assert.True(t, v.Available)
		}},
		{"given fields", prov, NewEntry{Label: "work", AuthType: "oauth", AccessToken: "sk-new-key-0002", BaseURL: "https://b.invalid", Priority: ptr(0)}, nil,
			func(t *testing.T, v EntryView) {
				assert.Equal(t, "work", v.Label)
				assert.Equal(t, "oauth", v.AuthType)
				assert.Equal(t, "https://b.invalid", v.BaseURL)
				assert.Equal(t, 0, v.Priority)
			}},
		{"new provider", "fresh", NewEntry{AccessToken: "sk-new-key-0003"}, nil, func(t *testing.T, v EntryView) {
			assert.Equal(t, 0, v.Priority)
			assert.Equal(t, "fresh-1", v.Label)
		}},
		{"empty token", prov, NewEntry{AccessToken: "  "}, ErrBadInput, nil},
		{"bad auth type", prov, NewEntry{AccessToken: "sk-x-0000000", AuthType: "cookie"}, ErrBadInput, nil},
		{"negative priority", prov, NewEntry{AccessToken: "sk-x-0000000", Priority: ptr(-1)}, ErrBadInput, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 5, func(e *Entry) { e.Label = prov + "-2" })}})
			v, ch, err := p.Add(tc.pool, tc.in)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.NotContains(t, err.Error(), "sk-")
				assert.False(t, pending(p))
				return
			}
			require.NoError(t, err)
			tc.check(t, v)
			require.Len(t, ch, 1)
			assert.Equal(t, Change{Kind: ChangeAdded, Provider: tc.pool, ID: v.ID, Label: v.Label, At: epochOf(t0), Cause: "admin"}, ch[0])
			assert.True(t, urgent(p))
			s := roundTrip(p, snapshotOf(map[string][]Entry{prov: {ent("a", 0), ent("b", 5, func(e *Entry) { e.Label = prov + "-2" })}}))
			assert.Contains(t, diskIDs(s, tc.pool), v.ID)
			assert.Equal(t, "manual", diskEntry(t, s, tc.pool, v.ID).Source)
			assert.False(t, pending(p), "written")
		})
	}
}

func TestTargets(t *testing.T) {
	entries := func() map[string][]Entry {
		return map[string][]Entry{prov: {
			ent("aaaaaa", 0, func(e *Entry) { e.Label = "Work" }),
			ent("bbbbbb", 1, func(e *Entry) { e.Label = "dup" }, deadAgo(time.Hour)),
			ent("cccccc", 2, func(e *Entry) { e.Label = "DUP" }),
			ent("dddddd", 3, func(e *Entry) { e.Label = "2" }, exhaustedAgo(429, time.Minute)),
		}}
	}
	for _, tc := range []struct {
		target string
		want   string
		err    error
	}{
		{"cccccc", "cccccc", nil},
		{"work", "aaaaaa", nil},
		{"WORK", "aaaaaa", nil},
		{"2", "dddddd", nil}, // a label wins over an index
		{"1", "aaaaaa", nil},
		{"3", "cccccc", nil},
		{"dup", "", ErrAmbiguousTarget},
		{"5", "", ErrNoTarget},
		{"0", "", ErrNoTarget},
		{"nobody", "", ErrNoTarget},
	} {
		t.Run("remove "+tc.target, func(t *testing.T) {
			p, _ := newTest(t, Config{}, entries())
			v, ch, err := p.Remove(prov, tc.target)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				if tc.err == ErrAmbiguousTarget {
					assert.Contains(t, err.Error(), "bbbbbb")
					assert.Contains(t, err.Error(), "cccccc")
				}
				_, n := p.Counts()
				assert.Equal(t, 4, n)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.ID)
			require.Len(t, ch, 1)
			assert.Equal(t, ChangeRemoved, ch[0].Kind)
			assert.Equal(t, "admin", ch[0].Cause)
			assert.NotContains(t, ids(p, prov), tc.want)
			assert.True(t, urgent(p))
			s := roundTrip(p, snapshotOf(entries()))
			assert.NotContains(t, diskIDs(s, prov), tc.want)
			assert.Len(t, diskIDs(s, prov), 3)
		})
	}
	t.Run("unknown pool", func(t *testing.T) {
		p, _ := newTest(t, Config{}, entries())
		_, _, err := p.Remove("nope", "1")
		assert.ErrorIs(t, err, ErrUnknownPool)
		_, _, err = p.Reset("nope", "")
		assert.ErrorIs(t, err, ErrUnknownPool)
	})
	for _, tc := range []struct {
		target string
		n      int
		err    error
	}{
		{"", 2, nil},
		{"bbbbbb", 1, nil},
		{"2", 1, nil},
		{"work", 0, nil},
		{"dup", 0, ErrAmbiguousTarget},
		{"zzz", 0, ErrNoTarget},
	} {
		t.Run("reset "+tc.target, func(t *testing.T) {
			p, _ := newTest(t, Config{}, entries())
			n, ch, err := p.Reset(prov, tc.target)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.n, n)
			assert.Len(t, ch, tc.n)
			for _, c := range ch {
				assert.Equal(t, ChangeRecovered, c.Kind)
				assert.Equal(t, "admin", c.Cause)
				assert.Equal(t, "reset", c.Reason)
				assert.Equal(t, StatusFields{}, entryOf(t, p, prov, c.ID).StatusFields)
			}
			assert.True(t, urgent(p), "a reset writes status_cleared_at")
			s := roundTrip(p, snapshotOf(entries()))
			for _, c := range ch {
				d := diskEntry(t, s, prov, c.ID)
				assert.Equal(t, StatusFields{}, d.StatusFields)
				assert.Equal(t, epochOf(t0), d.StatusClearedAt)
			}
		})
	}
}

func TestViews(t *testing.T) {
	p, c := newTest(t, Config{PruneDeadAfter: 24 * time.Hour, Strategies: map[string]Strategy{"b": LeastUsed}}, map[string][]Entry{
		"b": {ent("x", 0)},
		"a": {
			ent("ok", 0, withCount(3)),
			ent("cool", 1, exhaustedAgo(429, time.Minute)),
			ent("ended", 2, exhaustedAgo(429, 2*time.Hour)),
			ent("dead", 3, withStatus(StatusDead, 401, "token_revoked", time.Hour), withSource("manual:device_code")),
			ent("deaddc", 4, deadAgo(time.Hour), withSource("device_code")),
			ent("short", 5, withToken("sk-1234")),
			ent("none", 6, withToken(""), withSource("env:KEY")),
		},
	})
	_, err := p.Select("a", SelectOptions{Lease: true})
	require.NoError(t, err)
	vs := p.Views()
	require.Len(t, vs, 2)
	assert.Equal(t, "a", vs[0].Provider)
	assert.Equal(t, FillFirst, vs[0].Strategy)
	assert.Equal(t, LeastUsed, vs[1].Strategy)
	a := vs[0]
	assert.Equal(t, 3, a.Available, "ok, ended and short")
	assert.InDelta(t, c.epochOf()+3540, a.NextAvailableAt, 1e-6)
	byID := map[string]EntryView{}
	for _, e := range a.Entries {
		byID[e.ID] = e
	}
	assert.Equal(t, []string{"ok", "cool", "ended", "dead", "deaddc", "short", "none"}, ids(p, "a"), "file order")
	assert.Equal(t, EntryView{ID: "ok", Label: "label-ok", AuthType: "api_key", Priority: 0, Source: "manual",
		TokenHint: "r-ok", RequestCount: 4, Status: StatusOK, Available: true, Leases: 1}, byID["ok"])
	assert.Equal(t, StatusExhausted, byID["cool"].Status)
	assert.InDelta(t, c.epochOf()+3540, byID["cool"].Until, 1e-6)
	assert.False(t, byID["cool"].Available)
	assert.Equal(t, StatusOK, byID["ended"].Status, "an ended cooldown reads ok")
	assert.Zero(t, byID["ended"].Until)
	assert.Equal(t, 429, byID["ended"].LastErrorCode, "the fields stay until a tick or select writes the recovery")
	assert.Equal(t, StatusDead, byID["dead"].Status)
	assert.InDelta(t, c.epochOf()+23*3600, byID["dead"].PruneAt, 1e-6)
	assert.Zero(t, byID["deaddc"].PruneAt)
	assert.Equal(t, "", byID["short"].TokenHint, "short tokens are not half revealed")
	assert.True(t, byID["short"].Available)
	assert.Equal(t, "", byID["none"].TokenHint)
	assert.False(t, byID["none"].Available)
	_, err = p.View("zzz")
	assert.ErrorIs(t, err, ErrUnknownPool)
	n, e := p.Counts()
	assert.Equal(t, 2, n)
	assert.Equal(t, 8, e)
}

func TestTokenHint(t *testing.T) {
	for in, want := range map[string]string{"": "", "1234567": "", "12345678": "5678", "sk-ééééabcd": "abcd", "sk-abcdéééé": "éééé"} {
		assert.Equal(t, want, tokenHint(in), in)
	}
}

func TestNoSecretInChangesOrErrors(t *testing.T) {
	secret := "sk-very-secret-value-42"
	p, c := newTest(t, Config{PruneDeadAfter: time.Hour}, map[string][]Entry{prov: {
		ent("a", 0, withToken(secret), withSource("manual")), ent("b", 1, withToken(secret))}})
	var all []Change
	res, err := p.Report(prov, Report{APIKeyHint: secret, StatusCode: 429, Message: "retry in 5s"})
	require.NoError(t, err)
	all = append(all, res.Changes...)
	c.advance(time.Minute)
	all = append(all, p.Tick()...)
	res, err = p.Report(prov, Report{APIKeyHint: secret, StatusCode: 401, Reason: "invalid_token"})
	require.NoError(t, err)
	all = append(all, res.Changes...)
	c.advance(2 * time.Hour)
	all = append(all, p.Tick()...)
	require.NotEmpty(t, all)
	assertNoSecrets(t, all, secret, "rt-a", "rt-b")
	_, _, err = p.Add(prov, NewEntry{AccessToken: secret, AuthType: "nope"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
}
