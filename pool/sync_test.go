package pool

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func diskIDs(s Snapshot, provider string) []string {
	var out []string
	for _, e := range s.Pools[provider] {
		out = append(out, e.ID)
	}
	return out
}

func diskEntry(t testing.TB, s Snapshot, provider, id string) *Entry {
	t.Helper()
	for i := range s.Pools[provider] {
		if s.Pools[provider][i].ID == id {
			return &s.Pools[provider][i]
		}
	}
	t.Fatalf("no entry %s/%s on disk", provider, id)
	return nil
}

// TestSyncWritesWhatTheFileLacks: each of this process's changes reaches the
// file, merged into what is there now, and nothing else is touched.
func TestSyncWritesWhatTheFileLacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start map[string][]Entry
		do    func(t *testing.T, p *Pool)
		disk  map[string][]Entry // the file at write time
		check func(t *testing.T, s Snapshot)
	}{
		{"add appends", map[string][]Entry{prov: {ent("a", 0)}},
			func(t *testing.T, p *Pool) {
				_, _, err := p.Add(prov, NewEntry{Label: "n", AccessToken: "sk-new-000001"})
				require.NoError(t, err)
			}, map[string][]Entry{prov: {ent("a", 0)}},
			func(t *testing.T, s Snapshot) {
				require.Len(t, s.Pools[prov], 2)
				assert.Equal(t, "n", s.Pools[prov][1].Label)
				assert.Equal(t, 1, s.Pools[prov][1].Priority)
			}},
		{"add creates the provider", map[string][]Entry{},
			func(t *testing.T, p *Pool) {
				_, _, err := p.Add("new", NewEntry{AccessToken: "sk-new-000001"})
				require.NoError(t, err)
			}, map[string][]Entry{},
			func(t *testing.T, s Snapshot) { require.Len(t, s.Pools["new"], 1) }},
		{"add keeps entries others added meanwhile", map[string][]Entry{prov: {ent("a", 0)}},
			func(t *testing.T, p *Pool) {
				_, _, err := p.Add(prov, NewEntry{AccessToken: "sk-new-000001"})
				require.NoError(t, err)
			}, map[string][]Entry{prov: {ent("a", 0), ent("o", 1)}},
			func(t *testing.T, s Snapshot) { assert.Len(t, s.Pools[prov], 3) }},
		{"remove", map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}},
			func(t *testing.T, p *Pool) {
				_, _, err := p.Remove(prov, "b")
				require.NoError(t, err)
				selectID(t, p, prov, SelectOptions{Strategy: LeastUsed})
			}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, []string{"a", "c"}, diskIDs(s, prov))
				assert.Equal(t, 1, s.Pools[prov][0].RequestCount)
			}},
		{"an entry removed by another is not brought back", map[string][]Entry{prov: {ent("a", 0), ent("gone", 1)}},
			func(t *testing.T, p *Pool) {
				_, err := p.Report(prov, Report{CredentialID: "gone", StatusCode: 401, Reason: "token_revoked"})
				require.NoError(t, err)
			}, map[string][]Entry{prov: {ent("a", 0)}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, []string{"a"}, diskIDs(s, prov)) }},
		{"a verdict lands", map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}},
			func(t *testing.T, p *Pool) {
				_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 401, Reason: "token_revoked", Message: "gone"})
				require.NoError(t, err)
			}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, StatusFields{LastStatus: StatusDead, LastStatusAt: epochOf(t0), LastErrorCode: 401,
					LastErrorReason: "token_revoked", LastErrorMessage: "gone"}, s.Pools[prov][0].StatusFields)
			}},
		{"a verdict about older tokens does not land on new ones", map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}},
			func(t *testing.T, p *Pool) {
				_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 401, Reason: "token_revoked"})
				require.NoError(t, err)
			}, map[string][]Entry{prov: {ent("a", 0, withToken("sk-relogged-00001")), ent("b", 1)}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, StatusFields{}, s.Pools[prov][0].StatusFields)
				assert.Equal(t, "sk-relogged-00001", s.Pools[prov][0].AccessToken)
			}},
		{"counts add to the file's", map[string][]Entry{prov: {ent("a", 0, withCount(4))}},
			func(t *testing.T, p *Pool) {
				for range 3 {
					selectID(t, p, prov, SelectOptions{})
				}
			}, map[string][]Entry{prov: {ent("a", 0, withCount(10))}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, 13, s.Pools[prov][0].RequestCount) }},
		{"counts never go backwards", map[string][]Entry{prov: {ent("a", 0, withCount(5))}},
			func(t *testing.T, p *Pool) { selectID(t, p, prov, SelectOptions{}) },
			map[string][]Entry{prov: {ent("a", 0, withCount(0))}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, 6, s.Pools[prov][0].RequestCount) }},
		{"round-robin order", map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}},
			func(t *testing.T, p *Pool) { selectID(t, p, prov, SelectOptions{Strategy: RoundRobin}) },
			map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, 1, s.Pools[prov][0].Priority)
				assert.Equal(t, 0, s.Pools[prov][1].Priority)
			}},
		{"unknown fields and others' fields survive", map[string][]Entry{prov: {ent("a", 0)}},
			func(t *testing.T, p *Pool) { selectID(t, p, prov, SelectOptions{}) },
			map[string][]Entry{prov: {ent("a", 0, func(e *Entry) { e.Extra = rawMap{"x": []byte("1")}.raw(); e.Label = "renamed" })}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, "1", string(s.Pools[prov][0].Extra["x"]))
				assert.Equal(t, "renamed", s.Pools[prov][0].Label)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, tc.start)
			tc.do(t, p)
			s := roundTrip(p, snapshotOf(cloneDisk(tc.disk)))
			tc.check(t, s)
			assert.False(t, pending(p), "a committed Sync leaves nothing to write")
			again := roundTrip(p, snapshotOf(cloneDisk(s.Pools)))
			assert.Equal(t, s.Pools, again.Pools, "a second Sync changes nothing")
		})
	}
}

// TestFailedWriteNeedsNoUndo: a Sync whose write failed (no Committed) is
// simply decided again at the next write, with whatever happened since.
func TestFailedWriteNeedsNoUndo(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}}
	p, _ := newTest(t, Config{}, disk)
	selectID(t, p, prov, SelectOptions{})
	selectID(t, p, prov, SelectOptions{})
	_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429}) // next = b, counted
	require.NoError(t, err)
	p.Sync(snapshotOf(cloneDisk(disk))) // the write fails: no Committed
	require.True(t, urgent(p))

	selectID(t, p, prov, SelectOptions{}) // b again
	_, _, err = p.Reset(prov, "a")
	require.NoError(t, err)
	s := roundTrip(p, snapshotOf(cloneDisk(disk)))
	assert.Equal(t, 2, s.Pools[prov][0].RequestCount)
	assert.Equal(t, StatusFields{}, s.Pools[prov][0].StatusFields, "the later reset wins over the mark")
	assert.Equal(t, epochOf(t0), s.Pools[prov][0].StatusClearedAt)
	assert.Equal(t, 2, s.Pools[prov][1].RequestCount, "counts add up")
	assert.False(t, pending(p))
}

// A change made between a Sync and its Committed stays to be written.
func TestChangeDuringWriteStaysDirty(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}}
	p, _ := newTest(t, Config{}, disk)
	_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
	require.NoError(t, err)
	snap := snapshotOf(cloneDisk(disk))
	c, _ := p.Sync(snap)
	_, err = p.Report(prov, Report{CredentialID: "b", StatusCode: 429}) // while the write runs
	require.NoError(t, err)
	p.Committed(c)
	assert.True(t, urgent(p), "b's mark came after the Sync")
	s := roundTrip(p, snap)
	assert.Equal(t, StatusExhausted, s.Pools[prov][1].LastStatus)
	assert.False(t, pending(p))
}

func TestRemoveOfUnwrittenAddWritesNothing(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("a", 0)}}
	p, _ := newTest(t, Config{}, disk)
	v, _, err := p.Add(prov, NewEntry{AccessToken: "sk-temporary-1"})
	require.NoError(t, err)
	_, _, err = p.Remove(prov, v.ID)
	require.NoError(t, err)
	s := roundTrip(p, snapshotOf(cloneDisk(disk)))
	assert.Equal(t, []string{"a"}, diskIDs(s, prov))
}

// An add whose id another writer took meanwhile moves to a fresh id.
func TestAddIDCollision(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	v, _, err := p.Add(prov, NewEntry{Label: "mine", AccessToken: "sk-mine-0000001"})
	require.NoError(t, err)
	theirs := ent(v.ID, 1, func(e *Entry) { e.Label = "theirs" })
	s := roundTrip(p, snapshotOf(map[string][]Entry{prov: {ent("a", 0), theirs}}))
	require.Len(t, s.Pools[prov], 3)
	assert.Equal(t, "theirs", s.Pools[prov][1].Label)
	assert.Equal(t, "mine", s.Pools[prov][2].Label)
	assert.NotEqual(t, v.ID, s.Pools[prov][2].ID)
}

// TestRepairGivesDuplicatesTheirOwnID: a hand-copied entry that kept the
// original id is reported, and Repair makes it an entry of its own.
func TestRepairGivesDuplicatesTheirOwnID(t *testing.T) {
	copyOfA := ent("a", 1, withToken("sk-copied-by-hand"), func(e *Entry) { e.Label = "copy" })
	disk := map[string][]Entry{prov: {ent("a", 0), copyOfA}}
	p, _ := newTest(t, Config{}, disk)
	v, err := p.View(prov)
	require.NoError(t, err)
	require.Len(t, v.Entries, 1, "the duplicate is not served")
	require.Len(t, v.Problems, 1)
	assert.Equal(t, 2, v.Problems[0].Index)
	assert.Contains(t, v.Problems[0].What, "credpool repair")
	assert.NotContains(t, v.Problems[0].What, "sk-copied")

	n, err := p.Repair(prov)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s := roundTrip(p, snapshotOf(cloneDisk(disk)))
	require.Len(t, s.Pools[prov], 2)
	assert.Equal(t, "a", s.Pools[prov][0].ID)
	assert.NotEqual(t, "a", s.Pools[prov][1].ID)
	assert.Equal(t, "sk-copied-by-hand", s.Pools[prov][1].AccessToken)
	v, err = p.View(prov)
	require.NoError(t, err)
	assert.Len(t, v.Entries, 2)
	assert.Empty(t, v.Problems)
}

func TestStateExportImport(t *testing.T) {
	disk := map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}}
	p, _ := newTest(t, Config{}, disk)
	_, _, err := p.Remove(prov, "b")
	require.NoError(t, err)
	relogged := ent("a", 0, withToken("sk-relogged-00001"))
	p.Load(snapshotOf(map[string][]Entry{prov: {relogged, ent("b", 1)}}))
	require.True(t, p.StateDirty())
	st := p.ExportState()
	assert.False(t, p.StateDirty())
	require.Len(t, st.Tombstones, 1)
	require.Len(t, st.History, 1)
	assert.NotContains(t, st.History[0].Generations[0], "sk-")

	// A restarted daemon remembers both: it reads the file as the first
	// daemon left it, then a stale writer brings back b and a's old pair.
	q := New(Config{Now: (&clock{t: t0}).Now})
	q.ImportState(st)
	good := map[string][]Entry{prov: {relogged}}
	q.Load(snapshotOf(cloneDisk(good)))
	stale := map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}}
	q.Load(snapshotOf(cloneDisk(stale)))
	assert.Equal(t, []string{"a"}, ids(q, prov), "the removed entry is not taken back")
	assert.Equal(t, "sk-relogged-00001", entryOf(t, q, prov, "a").AccessToken, "tokens never go backwards")
	assert.True(t, urgent(q))
	s := roundTrip(q, snapshotOf(cloneDisk(stale)))
	assert.Equal(t, []string{"a"}, diskIDs(s, prov))
	assert.Equal(t, "sk-relogged-00001", s.Pools[prov][0].AccessToken)
}
