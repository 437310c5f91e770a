package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ids(p *Pool, provider string) []string {
	var out []string
	if pp := p.pools[provider]; pp != nil {
		for _, e := range pp.entries {
			out = append(out, e.ID)
		}
	}
	return out
}

func kinds(ch []Change) []string {
	var out []string
	for _, c := range ch {
		out = append(out, string(c.Kind)+"/"+c.ID+"/"+c.Cause)
	}
	return out
}

func TestLoadReconciles(t *testing.T) {
	base := func() []Entry { return []Entry{ent("a", 0), ent("b", 1), ent("c", 2)} }
	for _, tc := range []struct {
		name    string
		before  func(p *Pool) // this process's own changes before the reload
		disk    func() map[string][]Entry
		ids     []string
		changes []string
		check   func(t *testing.T, p *Pool)
	}{
		{name: "first load is quiet", disk: func() map[string][]Entry { return map[string][]Entry{prov: base()} },
			ids: []string{"a", "b", "c"}},
		{name: "added and removed by others", disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("a", 0), ent("n", 1), ent("c", 2)}}
		}, ids: []string{"a", "n", "c"}, changes: []string{"entry.added/n/file", "entry.removed/b/file"}},
		{name: "order follows the file", disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("c", 0), ent("a", 1), ent("b", 2)}}
		}, ids: []string{"c", "a", "b"}, check: func(t *testing.T, p *Pool) {
			assert.Equal(t, "c", selectID(t, p, prov, SelectOptions{}))
		}},
		{name: "our pending add survives a file without it", before: func(p *Pool) {
			_, _, err := p.Add(prov, NewEntry{Label: "mine", AccessToken: "sk-mine-123456"})
			require.NoError(t, err)
		}, disk: func() map[string][]Entry { return map[string][]Entry{prov: base()} }, check: func(t *testing.T, p *Pool) {
			v, err := p.View(prov)
			require.NoError(t, err)
			require.Len(t, v.Entries, 4)
			assert.Equal(t, "mine", v.Entries[3].Label)
		}},
		{name: "our pending remove is not undone", before: func(p *Pool) {
			_, _, err := p.Remove(prov, "b")
			require.NoError(t, err)
		}, disk: func() map[string][]Entry { return map[string][]Entry{prov: base()} }, ids: []string{"a", "c"}},
		{name: "status from another process", disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("a", 0, exhaustedAgo(429, time.Minute)), ent("b", 1, deadAgo(time.Minute)), ent("c", 2)}}
		}, ids: []string{"a", "b", "c"}, changes: []string{"entry.exhausted/a/file", "entry.dead/b/file"}},
		{name: "a status cleared without a reset is a stale snapshot", before: func(p *Pool) {
			_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
			require.NoError(t, err)
			roundTrip(p, snapshotOf(map[string][]Entry{prov: base()})) // written
		}, disk: func() map[string][]Entry { return map[string][]Entry{prov: base()} },
			ids: []string{"a", "b", "c"}, check: func(t *testing.T, p *Pool) {
				assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "a").LastStatus)
				assert.True(t, urgent(p), "the verdict is written back")
			}},
		{name: "a reset by another process", before: func(p *Pool) {
			_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
			require.NoError(t, err)
			roundTrip(p, snapshotOf(map[string][]Entry{prov: base()})) // written
		}, disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("a", 0, func(e *Entry) { e.StatusClearedAt = epochOf(t0) + 1 }), ent("b", 1), ent("c", 2)}}
		}, ids: []string{"a", "b", "c"}, changes: []string{"entry.recovered/a/file"}, check: func(t *testing.T, p *Pool) {
			assert.Equal(t, StatusOK, norm(entryOf(t, p, prov, "a").LastStatus))
			assert.False(t, urgent(p))
		}},
		{name: "our pending status stays ours", before: func(p *Pool) {
			_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
			require.NoError(t, err)
		}, disk: func() map[string][]Entry { return map[string][]Entry{prov: base()} }, ids: []string{"a", "b", "c"},
			check: func(t *testing.T, p *Pool) {
				assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "a").LastStatus)
			}},
		{name: "pending counts add to the file's, pending priority stays", before: func(p *Pool) {
			p.cfg.DefaultStrategy = RoundRobin
			selectID(t, p, prov, SelectOptions{})
		}, disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("a", 0, withCount(10)), ent("b", 7, withCount(3)), ent("c", 2)}}
		}, ids: []string{"a", "b", "c"}, check: func(t *testing.T, p *Pool) {
			assert.Equal(t, 11, entryOf(t, p, prov, "a").RequestCount)
			assert.Equal(t, 2, entryOf(t, p, prov, "a").Priority)
			assert.Equal(t, 0, entryOf(t, p, prov, "b").Priority)
		}},
		{name: "other fields come from the file", disk: func() map[string][]Entry {
			return map[string][]Entry{prov: {ent("a", 3, func(e *Entry) { e.Label = "renamed"; e.BaseURL = "https://x.invalid" }), ent("b", 1), ent("c", 2)}}
		}, ids: []string{"a", "b", "c"}, check: func(t *testing.T, p *Pool) {
			e := entryOf(t, p, prov, "a")
			assert.Equal(t, "renamed", e.Label)
			assert.Equal(t, "https://x.invalid", e.BaseURL)
			assert.Equal(t, 3, e.Priority)
			assert.Equal(t, "b", selectID(t, p, prov, SelectOptions{}))
		}},
		{name: "a vanished provider vanishes", disk: func() map[string][]Entry { return map[string][]Entry{"other": {ent("x", 0)}} },
			changes: []string{"entry.removed/a/file", "entry.removed/b/file", "entry.removed/c/file", "entry.added/x/file"},
			check: func(t *testing.T, p *Pool) {
				_, err := p.View(prov)
				assert.ErrorIs(t, err, ErrUnknownPool)
				n, e := p.Counts()
				assert.Equal(t, 1, n)
				assert.Equal(t, 1, e)
			}},
		{name: "an emptied provider stays", disk: func() map[string][]Entry { return map[string][]Entry{prov: {}} },
			changes: []string{"entry.removed/a/file", "entry.removed/b/file", "entry.removed/c/file"},
			check: func(t *testing.T, p *Pool) {
				_, err := p.View(prov)
				assert.NoError(t, err)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *Pool
			if tc.name == "first load is quiet" {
				p = New(Config{Now: (&clock{t: t0}).Now})
			} else {
				p, _ = newTest(t, Config{}, map[string][]Entry{prov: base()})
			}
			if tc.before != nil {
				tc.before(p)
			}
			ch := p.Load(snapshotOf(tc.disk()))
			assert.Equal(t, tc.changes, kinds(ch))
			if tc.ids != nil {
				assert.Equal(t, tc.ids, ids(p, prov))
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// Rule 1: another process rewrote an entry's row with new tokens.
func TestLoadRule1OwnRowReauth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		start   func(*Entry)
		row     func(*Entry) // what the other process wrote (tokens are always new)
		status  Status
		changes []string
	}{
		{"dead left as it was", deadAgo(time.Hour), func(*Entry) {}, StatusOK, []string{"entry.recovered/a/reauth"}},
		{"exhausted left as it was", exhaustedAgo(429, time.Minute), func(*Entry) {}, StatusOK, []string{"entry.recovered/a/reauth"}},
		{"writer cleared it", deadAgo(time.Hour), func(e *Entry) { e.StatusFields = StatusFields{} }, StatusOK, []string{"entry.recovered/a/file"}},
		{"writer set a new status", func(*Entry) {}, exhaustedAgo(429, time.Second), StatusExhausted, []string{"entry.exhausted/a/file"}},
		{"ok stays ok", func(*Entry) {}, func(*Entry) {}, StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := ent("a", 0, tc.start)
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {start, ent("b", 1)}})
			row := start
			row.AccessToken, row.RefreshToken = "sk-relogged-0001", "rt-relogged"
			tc.row(&row)
			disk := map[string][]Entry{prov: {row, ent("b", 1)}}
			ch := p.Load(snapshotOf(cloneDisk(disk)))
			assert.Equal(t, tc.changes, kinds(ch))
			assertNoSecrets(t, ch, "sk-relogged-0001", "rt-relogged")
			e := entryOf(t, p, prov, "a")
			assert.Equal(t, "sk-relogged-0001", e.AccessToken)
			assert.Equal(t, tc.status, norm(e.LastStatus))
			out := roundTrip(p, snapshotOf(cloneDisk(disk)))
			assert.Equal(t, tc.status, norm(out.Pools[prov][0].LastStatus), "the cleared status reaches the file")
			assert.Equal(t, "sk-relogged-0001", out.Pools[prov][0].AccessToken)
		})
	}
}

func TestLoadRule1DropsMarksAboutOldTokens(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
	_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 401, Reason: "token_revoked"})
	require.NoError(t, err)
	disk := map[string][]Entry{prov: {ent("a", 0, withToken("sk-fresh-tokens-9")), ent("b", 1)}}
	p.Load(snapshotOf(cloneDisk(disk)))
	assert.Equal(t, StatusOK, norm(entryOf(t, p, prov, "a").LastStatus))
	out := roundTrip(p, snapshotOf(cloneDisk(disk)))
	assert.Equal(t, StatusFields{}, out.Pools[prov][0].StatusFields)
}

// Our own written mark must not look like someone else's re-auth later.
func TestLoadAfterOwnWriteIsNotReauth(t *testing.T) {
	const old, fresh = "singleton-old-00", "singleton-new-00"
	disk := map[string][]Entry{prov: {ent("a", 0, withSource("device_code"), withToken(old)), ent("b", 1)}}
	sing := func(a string) map[string]Singleton { return map[string]Singleton{prov: {Tokens{AccessToken: a}}} }
	p, _ := newTest(t, Config{}, nil)
	p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(old)})
	p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(fresh)}) // adopt
	snap := roundTrip(p, Snapshot{Pools: cloneDisk(disk), Singletons: sing(fresh)})
	_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
	require.NoError(t, err)
	snap = roundTrip(p, snap)
	require.Equal(t, StatusExhausted, snap.Pools[prov][0].LastStatus)
	ch := p.Load(snap)
	assert.Empty(t, ch)
	assert.Equal(t, StatusExhausted, entryOf(t, p, prov, "a").LastStatus)
}

func TestLoadRule3FirstLoadRemembersSingleton(t *testing.T) {
	const s1, s2, s3 = "singleton-1-xxxx", "singleton-2-xxxx", "singleton-3-xxxx"
	sing := func(a string) map[string]Singleton { return map[string]Singleton{prov: {Tokens{AccessToken: a}}} }
	disk := map[string][]Entry{prov: {ent("m", 0, withSource("manual:device_code"), withToken(s1))}}
	p, _ := newTest(t, Config{}, nil)
	// First load: the singleton already moved on; m's token is not "the
	// previous one" as far as we know, so m is left alone.
	p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(s2)})
	assert.Equal(t, s1, entryOf(t, p, prov, "m").AccessToken)
	disk[prov][0].AccessToken = s2
	// m now holds the current singleton token; when it changes, m follows.
	p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(s2)})
	p.Load(Snapshot{Pools: cloneDisk(disk), Singletons: sing(s3)})
	assert.Equal(t, s3, entryOf(t, p, prov, "m").AccessToken)
	// A singleton that disappears changes nothing.
	p.Load(Snapshot{Pools: cloneDisk(disk)})
	assert.Equal(t, s3, entryOf(t, p, prov, "m").AccessToken)
}

// A write of ours that found the file re-tokened by another process must
// not land a status about the old tokens on the new ones, and must not
// teach the pool a status the file never held: rule 1 compares with what
// that process saw. Found by credpool-bench --recovery, 1 round in 50–200.
func TestReauthWhileOurWriteWaitsForTheLock(t *testing.T) {
	tests := []struct {
		name     string
		pending  func(p *Pool) // what this process decides before its write
		diskStat Status        // the status the re-tokening writer leaves
	}{
		{"our recovery write waits, writer keeps DEAD", func(p *Pool) {}, StatusDead},
		{"our new DEAD mark waits, writer keeps DEAD", func(p *Pool) {
			_, err := p.Report("p", Report{CredentialID: "aaaaaa", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
		}, StatusDead},
		{"our new DEAD mark waits, writer left it ok", func(p *Pool) {
			_, err := p.Report("p", Report{CredentialID: "aaaaaa", StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
		}, StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dead := ent("aaaaaa", 0, deadAgo(time.Hour))
			p, _ := newTest(t, Config{}, map[string][]Entry{"p": {dead, ent("bbbbbb", 1)}})
			// Re-login #1 leaves the DEAD status: rule 1 recovers it and
			// marks the cleared status for writing.
			relog1 := ent("aaaaaa", 0, deadAgo(time.Hour), withToken("sk-relogin-1"))
			ch := p.Load(Snapshot{Pools: map[string][]Entry{"p": {relog1, ent("bbbbbb", 1)}}})
			require.True(t, hasChange(ch, ChangeRecovered, "aaaaaa"))
			tc.pending(p)

			// The lock frees; meanwhile re-login #2 re-tokened the row.
			relog2 := relog1
			relog2.AccessToken = "sk-relogin-2"
			if tc.diskStat == StatusOK {
				relog2.StatusFields = StatusFields{}
			}
			disk := roundTrip(p, Snapshot{Pools: map[string][]Entry{"p": {relog2, ent("bbbbbb", 1)}}})
			assert.Equal(t, "sk-relogin-2", disk.Pools["p"][0].AccessToken)
			assert.Equal(t, StatusOK, norm(disk.Pools["p"][0].LastStatus), "a status about old tokens must not land on new ones")
			p.Load(disk)

			v, err := p.View("p")
			require.NoError(t, err)
			assert.True(t, v.Entries[0].Available, "fresh tokens end DEAD")
			assert.Equal(t, StatusOK, v.Entries[0].Status)
			assert.Equal(t, "sk-relogin-2", selectToken(t, p))
		})
	}
}

func hasChange(ch []Change, kind ChangeKind, id string) bool {
	for _, c := range ch {
		if c.Kind == kind && c.ID == id {
			return true
		}
	}
	return false
}

func selectToken(t *testing.T, p *Pool) string {
	s, err := p.Select("p", SelectOptions{})
	require.NoError(t, err)
	return s.Credential.AccessToken
}
