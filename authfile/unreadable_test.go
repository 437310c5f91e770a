package authfile

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// unreadableDoc has one entry with member in pool p and a healthy entry in
// pool q.
func unreadableDoc(member string) string {
	return `{"version": 1, "credential_pool": {
  "p": [{"id": "aaaaaa", "label": "bad", "access_token": "sk-a-SECRET", ` + member + `, "request_count": 1}],
  "q": [{"id": "bbbbbb", "label": "good", "access_token": "sk-b-SECRET", "request_count": 1}]}}`
}

// TestUnreadableFieldsDoNotBlockWrites: a known field whose value cannot
// be read (Python reads all of these fine) used to make the whole file
// "corrupt" and every write fail. Now the value is kept byte for byte,
// named in Unreadable (which pool reports as a problem), and the rest of
// the file is read and written as usual.
func TestUnreadableFieldsDoNotBlockWrites(t *testing.T) {
	tests := []struct {
		name, member, field string
		msg                 string // in the decoder's error
	}{
		{"priority 2^62", `"priority": 4611686018427387904`, "priority", "beyond ±2^53"},
		{"priority 2^53+1", `"priority": 9007199254740993`, "priority", "beyond ±2^53"},
		{"fractional priority", `"priority": 1.5`, "priority", "not an integer"},
		{"priority text", `"priority": "high-SECRET"`, "priority", "not a number"},
		{"access_token number", `"access_token": 12345`, "access_token", "not a string"},
		{"label object", `"label": {"a": ["SECRET"]}`, "label", "not a string"},
		{"id object", `"id": {"x": "SECRET"}`, "id", "not a string"},
		{"last_status_at garbage", `"last_status_at": "garbage-SECRET"`, "last_status_at", "not a time"},
		{"last_status_at before 1970", `"last_status_at": -5`, "last_status_at", "not a time"},
		{"last_error_reset_at after 9999", `"last_error_reset_at": "10000-01-01T00:00:00Z"`, "last_error_reset_at", "not a time"},
		{"expires_at true", `"expires_at": true`, "expires_at", "not a time"},
		{"expires_at_ms text", `"expires_at_ms": "soon-SECRET"`, "expires_at_ms", "not a time"},
		{"model_cooldowns list", `"model_cooldowns": ["SECRET"]`, "model_cooldowns", "not an object of names to times"},
		{"model_cooldowns null value", `"model_cooldowns": {"m": null}`, "model_cooldowns", "not an object of names to times"},
		{"status_cleared_at object", `"status_cleared_at": {}`, "status_cleared_at", "not a time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := unreadableDoc(tt.member)
			path := filepath.Join(t.TempDir(), "auth.json")
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
			s := NewStore(path)
			f, _, err := s.Read()
			require.NoError(t, err, "an unreadable field is not a corrupt file")
			bad := f.Pools["p"][0]
			assert.Equal(t, []string{tt.field}, bad.Unreadable)
			_, raw, _ := strings.Cut(tt.member, ": ")
			assert.Equal(t, raw, string(bad.Extra[tt.field]), "kept byte for byte in Extra")
			assert.Equal(t, "sk-a-SECRET", bad.AccessToken+map[bool]string{true: "sk-a-SECRET"}[tt.field == "access_token"], "the other fields are read")
			assert.Equal(t, 1, bad.RequestCount)

			why := decodeError(t, tt.field, []byte(raw))
			assert.Contains(t, why, tt.msg)
			assert.NotContains(t, why, "SECRET", "the decoder's error quotes no value")
			if tt.field != "id" {
				assert.Equal(t, "aaaaaa", bad.ID)
			}

			// Other entries are written; the bad bytes stay as they were.
			_, err = s.Update(context.Background(), func(f *File) error {
				f.Pools["q"][0].RequestCount = 5
				f.Pools["p"][0].RequestCount = 2
				return nil
			})
			require.NoError(t, err, "the document stays writable")
			out, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Contains(t, string(out), tt.member, "kept byte for byte")
			back, _, err := s.Read()
			require.NoError(t, err)
			assert.Equal(t, 5, back.Pools["q"][0].RequestCount)
			assert.Equal(t, 2, back.Pools["p"][0].RequestCount)
			assert.Equal(t, []string{tt.field}, back.Pools["p"][0].Unreadable)
		})
	}
}

// TestSettingAnUnreadableFieldReplacesItInPlace: a caller that sets the
// field writes the new value where the kept bytes were, once; one that
// deletes the kept bytes from Extra has the field's own value written.
func TestSettingAnUnreadableFieldReplacesItInPlace(t *testing.T) {
	doc := unreadableDoc(`"last_status_at": "garbage", "priority": 4611686018427387904`)
	f, err := Parse([]byte(doc))
	require.NoError(t, err)
	e := &f.Pools["p"][0]
	require.ElementsMatch(t, []string{"last_status_at", "priority"}, e.Unreadable)
	e.LastStatusAt = 1780000000.5
	delete(e.Extra, "priority")
	out, err := f.Marshal()
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(out), `"last_status_at"`), "never two members with one key")
	assert.Equal(t, 1, strings.Count(string(out), `"priority"`))
	assert.Regexp(t, `"access_token": "sk-a-SECRET",\s+"last_status_at": 1780000000.5,\s+"priority": 0,\s+"request_count": 1`, string(out), "in place")
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Empty(t, back.Pools["p"][0].Unreadable)
}

// TestUnreadableExpiry: a garbage expires_at beside a good expires_at_ms
// leaves the expiry readable from expires_at_ms; a new expiry replaces
// both members, each in its own form.
func TestUnreadableExpiry(t *testing.T) {
	f, err := Parse([]byte(`{"credential_pool": {"p": [{"id": "aaaaaa", "expires_at": "whenever", "expires_at_ms": 1770000000000}]}}`))
	require.NoError(t, err)
	e := &f.Pools["p"][0]
	assert.Equal(t, 1770000000.0, e.ExpiresAt)
	assert.Equal(t, []string{"expires_at"}, e.Unreadable)
	out, err := f.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"expires_at": "whenever"`, "unchanged: kept")
	e.ExpiresAt = 1780000000.5
	out, err = f.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"expires_at": "2026-05-28T20:26:40.500000+00:00",
        "expires_at_ms": 1780000000500`)
}

// TestDuplicateIDsAreKept: a repeated id (a hand-copied entry) is no
// reason to drop a row; pool decides which one speaks for the id.
func TestDuplicateIDsAreKept(t *testing.T) {
	doc := `{"credential_pool": {
  "p": [{"id": "aaaaaa", "access_token": "sk-1"}, {"id": "bbbbbb"}, {"id": "aaaaaa", "access_token": "sk-copy-SECRET"}, {"id": "aaaaaa"}],
  "q": [{"id": "aaaaaa"}]}}`
	f, err := Parse([]byte(doc))
	require.NoError(t, err)
	assert.Len(t, f.Pools["p"], 4, "every row is kept")
	out, err := f.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), "sk-copy-SECRET", "and written back")
}

// decodeError is the error the decoder of field name gives for raw: what
// made the field unreadable.
func decodeError(t *testing.T, name string, raw []byte) string {
	t.Helper()
	fld, ok := fieldOf[name]
	require.True(t, ok, name)
	var e pool.Entry
	d := entryDecoder{e: &e, rec: &record{}, sa: &strArena{}}
	err := table[fld].kind.decode(&d, raw)
	require.Error(t, err, "%s: %s", name, raw)
	return err.Error()
}

// TestTimeForms: every time field reads every form package epoch reads
// (the one parser), and a null, 0 or "" is no time.
func TestTimeForms(t *testing.T) {
	const want = 1780317000.0 // 2026-06-01T12:30:00Z
	forms := []struct{ name, raw string }{
		{"Python %z", `"2026-06-01T12:30:00+0000"`},
		{"space and %z", `"2026-06-01 12:30:00+0000"`},
		{"minutes only", `"2026-06-01T12:30"`},
		{"isoformat", `"2026-06-01T12:30:00+00:00"`},
		{"Z", `"2026-06-01T12:30:00Z"`},
		{"other zone", `"2026-06-01T14:30:00+02:00"`},
		{"seconds", `1780317000`},
		{"seconds text", `"1780317000"`},
		{"milliseconds", `1780317000000`},
		{"milliseconds text", `"1780317000000"`},
	}
	for _, name := range []string{"last_status_at", "last_error_reset_at", "status_cleared_at", "expires_at"} {
		for _, form := range forms {
			t.Run(name+"/"+form.name, func(t *testing.T) {
				f, err := Parse([]byte(`{"credential_pool": {"p": [{"id": "aaaaaa", "` + name + `": ` + form.raw + `}]}}`))
				require.NoError(t, err)
				e := f.Pools["p"][0]
				assert.Empty(t, e.Unreadable)
				got := map[string]float64{"last_status_at": e.LastStatusAt, "last_error_reset_at": e.LastErrorResetAt,
					"status_cleared_at": e.StatusClearedAt, "expires_at": e.ExpiresAt}[name]
				assert.Equal(t, want, got)
			})
		}
		for _, none := range []string{`null`, `0`, `""`, `" "`, `0.0`} {
			t.Run(name+"/none "+none, func(t *testing.T) {
				f, err := Parse([]byte(`{"credential_pool": {"p": [{"id": "aaaaaa", "` + name + `": ` + none + `}]}}`))
				require.NoError(t, err)
				e := f.Pools["p"][0]
				assert.Empty(t, e.Unreadable)
				assert.Equal(t, pool.Entry{ID: "aaaaaa"}, e, "no time")
			})
		}
	}
	// Model maps read their values the same way.
	f, err := Parse([]byte(`{"credential_pool": {"p": [{"id": "aaaaaa", "model_cooldowns": {"a": "2026-06-01T12:30:00+0000", "b": 1780317000000}}]}}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"a": want, "b": want}, f.Pools["p"][0].ModelCooldowns)
}

// TestResetAtInMilliseconds: Hermes reads a last_error_reset_at above 1e12
// as milliseconds; read as seconds it was the year 58,900, a cooldown for
// ever. Unchanged, it is written back as it was.
func TestResetAtInMilliseconds(t *testing.T) {
	doc := []byte(`{"credential_pool": {"p": [{"id": "aaaaaa", "last_error_reset_at": 1780317000123, "request_count": 1}]}}`)
	f, err := Parse(doc)
	require.NoError(t, err)
	e := &f.Pools["p"][0]
	assert.InDelta(t, 1780317000.123, e.LastErrorResetAt, 1e-6)
	e.RequestCount++
	out, err := f.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"last_error_reset_at": 1780317000123`)
}

// TestNewFieldsRoundTrip: the fields newer Hermes versions write are read,
// kept as they were when unchanged (map key order included), written in
// place when changed, and added to entries that did not have them.
func TestNewFieldsRoundTrip(t *testing.T) {
	doc := []byte(`{"credential_pool": {"p": [
  {"id": "aaaaaa", "last_refresh": "2026-06-01T12:00:00Z", "secret_fingerprint": "sha256:0011223344556677",
   "failure_reason": "billing", "status_cleared_at": 1780000000,
   "model_cooldowns": {"zeta": 1780003600, "alpha": "2026-06-01T12:30:00+0000"},
   "model_cooldown_observed_at": {"zeta": 1780000000.5, "alpha": 1780000001}},
  {"id": "bbbbbb", "request_count": 3}]}}`)
	f, err := Parse(doc)
	require.NoError(t, err)
	a, b := &f.Pools["p"][0], &f.Pools["p"][1]
	assert.Equal(t, "2026-06-01T12:00:00Z", a.LastRefresh)
	assert.Equal(t, "sha256:0011223344556677", a.SecretFingerprint)
	assert.Equal(t, "billing", a.FailureReason)
	assert.Equal(t, 1780000000.0, a.StatusClearedAt)
	assert.Equal(t, map[string]float64{"zeta": 1780003600, "alpha": 1780317000}, a.ModelCooldowns)
	assert.Equal(t, map[string]float64{"zeta": 1780000000.5, "alpha": 1780000001}, a.ModelCooldownObservedAt)
	assert.Empty(t, a.Extra, "no longer unknown")
	assert.False(t, f.changed())

	t.Run("unchanged maps keep their bytes", func(t *testing.T) {
		b.RequestCount++
		out, err := f.Marshal()
		require.NoError(t, err)
		assert.Contains(t, string(out), `"model_cooldowns": {"zeta": 1780003600, "alpha": "2026-06-01T12:30:00+0000"}`)
		b.RequestCount--
	})
	t.Run("a changed map keeps its on-disk order, new names sorted after", func(t *testing.T) {
		a.ModelCooldowns["alpha"] = 1780009000
		a.ModelCooldowns["mid"] = 1780009001
		a.ModelCooldowns["beta"] = 1780009002
		delete(a.ModelCooldowns, "zeta")
		assert.True(t, f.changed())
		out, err := f.Marshal()
		require.NoError(t, err)
		assert.Contains(t, string(out), `"model_cooldowns": {
          "alpha": 1780009000.0,
          "beta": 1780009002.0,
          "mid": 1780009001.0
        },`)
		a.ModelCooldowns = map[string]float64{"zeta": 1780003601, "alpha": 1780317000}
		out, err = f.Marshal()
		require.NoError(t, err)
		assert.Contains(t, string(out), `"model_cooldowns": {
          "zeta": 1780003601.0,
          "alpha": 1780317000.0
        },`, "the order on disk, not sorted")
	})
	t.Run("added to an entry without them, after its members", func(t *testing.T) {
		b.LastRefresh = "2026-06-02T00:00:00+00:00"
		b.SecretFingerprint = "sha256:8899aabbccddeeff"
		b.FailureReason = "model_entitlement"
		b.StatusClearedAt = 1780000002.5
		b.ModelCooldowns = map[string]float64{"m": 1780000003}
		b.ModelCooldownObservedAt = map[string]float64{"m": 1780000004}
		out, err := f.Marshal()
		require.NoError(t, err)
		assert.Contains(t, string(out), `{
        "id": "bbbbbb",
        "request_count": 3,
        "last_refresh": "2026-06-02T00:00:00+00:00",
        "failure_reason": "model_entitlement",
        "status_cleared_at": 1780000002.5,
        "model_cooldowns": {
          "m": 1780000003.0
        },
        "model_cooldown_observed_at": {
          "m": 1780000004.0
        },
        "secret_fingerprint": "sha256:8899aabbccddeeff"
      }`)
		back, err := Parse(out)
		require.NoError(t, err)
		got := back.Pools["p"][1]
		got.Extra = nil
		assert.Equal(t, *b, got, "reads back as set")
	})
	t.Run("cleared in place: null, or {} for a map", func(t *testing.T) {
		a.FailureReason, a.StatusClearedAt, a.SecretFingerprint = "", 0, ""
		a.ModelCooldowns = nil
		out, err := f.Marshal()
		require.NoError(t, err)
		for _, m := range []string{`"failure_reason": null`, `"status_cleared_at": null`, `"secret_fingerprint": null`, `"model_cooldowns": {}`} {
			assert.Contains(t, string(out), m)
		}
	})
}

// TestNewEntryLayout: a new entry is written in to_dict's order, the six
// status fields always, the optional ones only when set.
func TestNewEntryLayout(t *testing.T) {
	f := New()
	f.Pools["p"] = []pool.Entry{{ID: "aaaaaa", Label: "l", AuthType: "oauth", Priority: 1, Source: "manual",
		AccessToken: "at", RefreshToken: "rt", BaseURL: "https://b", ExpiresAt: 1780000000, LastRefresh: "2026-06-01T00:00:00Z",
		RequestCount: 2, StatusFields: pool.StatusFields{FailureReason: "billing"}, StatusClearedAt: 1780000001,
		ModelCooldowns: map[string]float64{"m": 1780000002}, SecretFingerprint: "sha256:0011223344556677",
		Extra: map[string]json.RawMessage{"x": json.RawMessage(`1`)}}}
	out, err := f.Marshal()
	require.NoError(t, err)
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(entryJSONRaw(t, out)))
	_, err = dec.Token()
	require.NoError(t, err)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	assert.Equal(t, []string{"id", "label", "auth_type", "priority", "source", "access_token", "refresh_token",
		"last_status", "last_status_at", "last_error_code", "last_error_reason", "last_error_message", "last_error_reset_at",
		"base_url", "expires_at", "last_refresh", "request_count", "failure_reason", "status_cleared_at", "model_cooldowns",
		"secret_fingerprint", "x"}, keys)
}

// entryJSONRaw is the first entry of pool p in data, as written.
func entryJSONRaw(t *testing.T, data []byte) []byte {
	t.Helper()
	f, err := Parse(data)
	require.NoError(t, err)
	rec := f.records["p"].recs[0]
	first, last := rec.obj[0], rec.obj[len(rec.obj)-1]
	start := bytes.LastIndexByte(f.doc[:first.k0], '{')
	end := bytes.IndexByte(f.doc[last.v1:], '}')
	return f.doc[start : int(last.v1)+end+1]
}
