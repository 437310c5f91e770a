package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestApplyPatches(t *testing.T) {
	later := epoch(t0) + 10
	dead := StatusFields{LastStatus: StatusDead, LastStatusAt: epoch(t0), LastErrorCode: 401, LastErrorReason: "token_revoked"}
	base := Tokens{AccessToken: tok("a"), RefreshToken: "rt-a"}
	for _, tc := range []struct {
		name  string
		disk  map[string][]Entry
		ps    []Patch
		check func(t *testing.T, s Snapshot)
	}{
		{"add appends", map[string][]Entry{prov: {ent("a", 0)}},
			[]Patch{{Provider: prov, ID: "n", Add: ptr(ent("n", 1))}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, []string{"a", "n"}, diskIDs(s, prov)) }},
		{"add does not duplicate", map[string][]Entry{prov: {ent("a", 0)}},
			[]Patch{{Provider: prov, ID: "a", Add: ptr(ent("a", 5))}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, []string{"a"}, diskIDs(s, prov))
				assert.Equal(t, 0, s.Pools[prov][0].Priority)
			}},
		{"add creates the provider", map[string][]Entry{},
			[]Patch{{Provider: "new", ID: "n", Add: ptr(ent("n", 0)), CountDelta: 2}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, []string{"n"}, diskIDs(s, "new"))
				assert.Equal(t, 2, s.Pools["new"][0].RequestCount)
			}},
		{"remove", map[string][]Entry{prov: {ent("a", 0), ent("b", 1), ent("c", 2)}},
			[]Patch{{Provider: prov, ID: "b", Remove: true}, {Provider: prov, ID: "c", CountDelta: 1}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, []string{"a", "c"}, diskIDs(s, prov))
				assert.Equal(t, 1, s.Pools[prov][1].RequestCount)
			}},
		{"gone entries are not resurrected", map[string][]Entry{prov: {ent("a", 0)}},
			[]Patch{{Provider: prov, ID: "gone", CountDelta: 3, Status: &dead, BaseTokens: base, At: later}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, []string{"a"}, diskIDs(s, prov)) }},
		{"status applies", map[string][]Entry{prov: {ent("a", 0)}},
			[]Patch{{Provider: prov, ID: "a", Status: &dead, At: epoch(t0), BaseTokens: base}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, dead, s.Pools[prov][0].StatusFields) }},
		{"status about older tokens is dropped", map[string][]Entry{prov: {ent("a", 0, withToken("sk-new-token-xx"))}},
			[]Patch{{Provider: prov, ID: "a", Status: &dead, At: epoch(t0), BaseTokens: base}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, StatusFields{}, s.Pools[prov][0].StatusFields) }},
		{"a newer mark on disk wins", map[string][]Entry{prov: {ent("a", 0, func(e *Entry) {
			e.StatusFields = StatusFields{LastStatus: StatusExhausted, LastStatusAt: later, LastErrorCode: 429}
		})}},
			[]Patch{{Provider: prov, ID: "a", Status: &StatusFields{}, At: epoch(t0), BaseTokens: base}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, StatusExhausted, s.Pools[prov][0].LastStatus) }},
		{"tokens then status on the new tokens", map[string][]Entry{prov: {ent("a", 0, deadAgo(time.Hour))}},
			[]Patch{{Provider: prov, ID: "a", Tokens: &Tokens{AccessToken: "sk-n-00000000", RefreshToken: "rt-n"},
				Status: &StatusFields{}, At: epoch(t0), BaseTokens: Tokens{AccessToken: "sk-n-00000000", RefreshToken: "rt-n"}}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, "sk-n-00000000", s.Pools[prov][0].AccessToken)
				assert.Equal(t, "rt-n", s.Pools[prov][0].RefreshToken)
				assert.Equal(t, StatusFields{}, s.Pools[prov][0].StatusFields)
			}},
		{"count and priority", map[string][]Entry{prov: {ent("a", 0, withCount(4))}},
			[]Patch{{Provider: prov, ID: "a", CountDelta: 3, Priority: ptr(7)}},
			func(t *testing.T, s Snapshot) {
				assert.Equal(t, 7, s.Pools[prov][0].RequestCount)
				assert.Equal(t, 7, s.Pools[prov][0].Priority)
			}},
		{"unknown fields survive", map[string][]Entry{prov: {ent("a", 0, func(e *Entry) { e.Extra = rawMap{"x": []byte("1")}.raw() })}},
			[]Patch{{Provider: prov, ID: "a", CountDelta: 1}},
			func(t *testing.T, s Snapshot) { assert.Equal(t, "1", string(s.Pools[prov][0].Extra["x"])) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snapshotOf(tc.disk)
			ApplyPatches(s, tc.ps)
			tc.check(t, s)
		})
	}
}

func diskIDs(s Snapshot, provider string) []string {
	var out []string
	for _, e := range s.Pools[provider] {
		out = append(out, e.ID)
	}
	return out
}

func TestTakeAndRestoreMerge(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
	selectID(t, p, prov, SelectOptions{})
	selectID(t, p, prov, SelectOptions{})
	_, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
	require.NoError(t, err) // Next = b, counted
	taken := p.TakePatches()
	require.Len(t, taken, 2)
	assert.Equal(t, "a", taken[0].ID)
	assert.Equal(t, 2, taken[0].CountDelta)
	assert.True(t, taken[0].Urgent)
	require.NotNil(t, taken[0].Status)
	assert.Equal(t, StatusExhausted, taken[0].Status.LastStatus)
	assert.Equal(t, 1, taken[1].CountDelta)
	assert.False(t, taken[1].Urgent)

	// More happens while the write fails.
	selectID(t, p, prov, SelectOptions{}) // b again
	_, _, err = p.Reset(prov, "a")
	require.NoError(t, err)
	p.RestorePatches(taken)
	merged := p.TakePatches()
	require.Len(t, merged, 2)
	assert.Equal(t, "a", merged[0].ID, "restored patches keep their place in front")
	assert.Equal(t, 2, merged[0].CountDelta)
	require.NotNil(t, merged[0].Status)
	assert.Equal(t, StatusFields{}, *merged[0].Status, "the later reset wins over the restored mark")
	assert.Equal(t, 2, merged[1].CountDelta, "count deltas add up")
	assert.Nil(t, p.TakePatches())
}

func TestRemoveOfUnwrittenAddNeedsNoPatch(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	v, _, err := p.Add(prov, NewEntry{AccessToken: "sk-temporary-1"})
	require.NoError(t, err)
	_, _, err = p.Remove(prov, v.ID)
	require.NoError(t, err)
	assert.Nil(t, p.TakePatches())
}

func TestRestoredAddThenRemove(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	v, _, err := p.Add(prov, NewEntry{AccessToken: "sk-temporary-1"})
	require.NoError(t, err)
	taken := p.TakePatches()
	_, _, err = p.Remove(prov, v.ID)
	require.NoError(t, err)
	p.RestorePatches(taken)
	s := snapshotOf(map[string][]Entry{prov: {ent("a", 0)}})
	ApplyPatches(s, p.TakePatches())
	assert.Equal(t, []string{"a"}, diskIDs(s, prov))
}
