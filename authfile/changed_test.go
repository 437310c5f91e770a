package authfile

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// An auth.json with what the shortcuts must get right: an entry without an
// id (Parse makes one up, so even an unchanged document marshals
// differently from the file), a repeated id, a null pool, an unknown field
// laid out unlike our output, an expiry in milliseconds.
const changeDoc = `{"version": 1, "updated_at": "2026-06-01T00:00:00+00:00",
 "credential_pool": {
  "a": [
   {"label": "no-id", "auth_type": "api_key", "access_token": "sk-1", "request_count": 1},
   {"id": "dup", "label": "first", "access_token": "sk-2", "tls": {"insecure":false}},
   {"id": "dup", "label": "second", "access_token": "sk-3", "expires_at_ms": 1748779200000},
   {"id": "x", "label": "ex", "access_token": "sk-4", "last_error_code": "402", "extra": [1,2]}
  ],
  "b": [],
  "n": null
 }}`

// TestUpdateShortcutsAgreeWithTwoMarshals: for each change, whether Update
// writes is what the former rule said: marshal before fn and after it, and
// write when the bytes differ.
func TestUpdateShortcutsAgreeWithTwoMarshals(t *testing.T) {
	tests := []struct {
		name  string
		fn    func(f *File)
		write bool
	}{
		{"nothing", func(f *File) {}, false},
		{"count bumped", func(f *File) { f.Pools["a"][3].RequestCount++ }, true},
		{"count bumped and restored", func(f *File) { f.Pools["a"][3].RequestCount++; f.Pools["a"][3].RequestCount-- }, false},
		{"made-up id kept", func(f *File) { f.Pools["a"][0].Label = "no-id" }, false},
		{"made-up id replaced", func(f *File) { f.Pools["a"][0].ID = "zzzzzz" }, true},
		{"same label, new string", func(f *File) { f.Pools["a"][1].Label = string([]byte("first")) }, false},
		// Unknown values are written as they were read; the caller's bytes
		// differ, so this is a change (it was none when unknown values were
		// re-indented).
		{"unknown field re-laid out", func(f *File) { f.Pools["a"][1].Extra["tls"] = json.RawMessage(`{ "insecure" : false }`) }, true},
		{"unknown field changed", func(f *File) { f.Pools["a"][1].Extra["tls"] = json.RawMessage(`{"insecure":true}`) }, true},
		{"unknown field removed", func(f *File) { delete(f.Pools["a"][3].Extra, "extra") }, true},
		{"unknown field added", func(f *File) { f.Pools["a"][2].Extra = map[string]json.RawMessage{"k": json.RawMessage(`1`)} }, true},
		{"known name in Extra is ignored", func(f *File) { f.Pools["a"][2].Extra = map[string]json.RawMessage{"label": json.RawMessage(`"q"`)} }, false},
		{"string error code kept", func(f *File) { f.Pools["a"][3].LastErrorCode = 402 }, false},
		{"expiry kept", func(f *File) { f.Pools["a"][2].ExpiresAt = 1748779200 }, false},
		{"expiry changed", func(f *File) { f.Pools["a"][2].ExpiresAt = 1748779201 }, true},
		{"duplicates swapped", func(f *File) { e := f.Pools["a"]; e[1], e[2] = e[2], e[1] }, true},
		{"entries reordered", func(f *File) { e := f.Pools["a"]; e[0], e[3] = e[3], e[0] }, true},
		{"entry removed", func(f *File) { f.Pools["a"] = f.Pools["a"][:3] }, true},
		{"entry added", func(f *File) { f.Pools["b"] = append(f.Pools["b"], pool.Entry{ID: "new", AccessToken: "sk-9"}) }, true},
		{"empty pool set to nil", func(f *File) { f.Pools["b"] = nil }, false},
		{"pool removed", func(f *File) { delete(f.Pools, "b") }, true},
		{"empty pool added", func(f *File) { f.Pools["c"] = []pool.Entry{} }, true},
		{"null pool filled", func(f *File) { f.Pools["n"] = []pool.Entry{} }, true},
		{"pools replaced by equal copy", func(f *File) {
			m := map[string][]pool.Entry{}
			for k, v := range f.Pools {
				m[k] = slices.Clone(v)
			}
			f.Pools = m
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The former rule.
			f, err := Parse([]byte(changeDoc))
			require.NoError(t, err)
			f.setUpdatedAt(fixedNow())
			before, err := f.Marshal()
			require.NoError(t, err)
			tt.fn(f)
			after, err := f.Marshal()
			require.NoError(t, err)
			require.Equal(t, tt.write, !bytes.Equal(before, after), "the case says what the former rule did")

			path := t.TempDir() + "/auth.json"
			require.NoError(t, os.WriteFile(path, []byte(changeDoc), 0o600))
			s := NewStore(path)
			s.Now = fixedNow
			v, err := s.Update(context.Background(), func(f *File) error { tt.fn(f); return nil })
			require.NoError(t, err)
			onDisk, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, versionOf(onDisk), v, "Update returns the Version of the bytes on disk")
			assert.Empty(t, tempFiles(t, filepath.Dir(path)), "no temp file left, written or not")
			if tt.write {
				assert.Equal(t, string(after), string(onDisk), "written as Marshal writes it, stamped")
			} else {
				assert.Equal(t, changeDoc, string(onDisk), "not written, updated_at not stamped")
			}
		})
	}
}

func TestChanged(t *testing.T) {
	f, err := Parse(readSample(t))
	require.NoError(t, err)
	assert.False(t, f.changed(), "just parsed")
	m, err := f.Marshal()
	require.NoError(t, err)

	f.Pools["openrouter"][0].RequestCount++
	assert.True(t, f.changed())
	m2, err := f.Marshal()
	require.NoError(t, err)
	assert.NotEqual(t, string(m), string(m2))
	f.Pools["openrouter"][0].RequestCount--
	assert.False(t, f.changed(), "changed back")
}

// TestEntriesDoNotPinTheDocument: what Snapshot hands to the pool, which
// keeps it, shares no memory with the document, so the document can be
// freed once the File is.
func TestEntriesDoNotPinTheDocument(t *testing.T) {
	data := readSample(t)
	f, err := parseOwned(data)
	require.NoError(t, err)
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	hi := lo + uintptr(len(data))
	inDoc := func(p unsafe.Pointer) bool { return uintptr(p) >= lo && uintptr(p) < hi }
	snap := f.Snapshot()
	n := 0
	for _, entries := range snap.Pools {
		for _, e := range entries {
			strs := []string{e.ID, e.Label, e.AuthType, e.Source, e.AccessToken, e.RefreshToken,
				e.BaseURL, string(e.LastStatus), e.LastErrorReason, e.LastErrorMessage,
				e.LastRefresh, e.FailureReason, e.SecretFingerprint}
			for m := range e.ModelCooldowns {
				strs = append(strs, m)
			}
			for _, s := range strs {
				if s != "" {
					n++
					assert.False(t, inDoc(unsafe.Pointer(unsafe.StringData(s))), "entry %s: a string views the document", e.ID)
				}
			}
			for k, v := range e.Extra {
				n++
				assert.False(t, inDoc(unsafe.Pointer(unsafe.StringData(k))), "entry %s: Extra key %s views the document", e.ID, k)
				assert.False(t, inDoc(unsafe.Pointer(unsafe.SliceData(v))), "entry %s: Extra %s views the document", e.ID, k)
			}
		}
	}
	for name, sg := range snap.Singletons {
		n++
		assert.False(t, inDoc(unsafe.Pointer(unsafe.StringData(sg.AccessToken))), "singleton %s views the document", name)
	}
	require.Greater(t, n, 20, "the sample has strings to check")
}
