package authfile

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/pool"
)

const samplePath = "testdata/auth.hermes.json"

func readSample(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(samplePath)
	require.NoError(t, err)
	return data
}

// generic decodes JSON the way any reader sees it, numbers kept as written.
func generic(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	dec.UseNumber()
	var v map[string]any
	require.NoError(t, dec.Decode(&v))
	return v
}

func entryOf(t testing.TB, doc map[string]any, provider string, i int) map[string]any {
	t.Helper()
	return doc["credential_pool"].(map[string]any)[provider].([]any)[i].(map[string]any)
}

func findEntry(t testing.TB, f *File, provider, id string) *pool.Entry {
	t.Helper()
	for i := range f.Pools[provider] {
		if f.Pools[provider][i].ID == id {
			return &f.Pools[provider][i]
		}
	}
	t.Fatalf("no entry %s/%s", provider, id)
	return nil
}

// keysOf lists the keys of the entry with id in the marshalled document, in
// their written order.
func keysOf(t testing.TB, data []byte, provider, id string) []string {
	t.Helper()
	f, err := Parse(data)
	require.NoError(t, err)
	if pr := f.records[provider]; pr != nil && pr.lookup(id) != nil {
		r := pr.lookup(id)
		var keys []string
		for _, sp := range r.obj {
			keys = append(keys, sp.key(f.doc))
		}
		return keys
	}
	t.Fatalf("no entry %s/%s", provider, id)
	return nil
}

func TestRoundTripSample(t *testing.T) {
	data := readSample(t)
	f, err := Parse(data)
	require.NoError(t, err)
	out, err := f.Marshal()
	require.NoError(t, err)

	assert.Equal(t, generic(t, data), generic(t, out), "an unchanged document reads back identical")
	assert.Equal(t, string(data), string(out), "and, laid out as credpool lays it out, is written byte for byte")
	assert.True(t, bytes.HasSuffix(out, []byte("}\n")), "trailing newline")
	assert.Contains(t, string(out), "\n  \"version\": 1,\n", "indent 2 like json.dump")

	f2, err := Parse(out)
	require.NoError(t, err)
	out2, err := f2.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(out), string(out2), "a second round trip is byte-identical")

	snap := f.Snapshot()
	assert.Len(t, snap.Pools["openai-codex"], 2)
	assert.Len(t, snap.Pools["openrouter"], 3)
	assert.Equal(t, pool.Singleton{Tokens: pool.Tokens{
		AccessToken:  "eyJhbGciOiJSUzI1NiJ9.c2luZ2xldG9uLWFjY2Vzcw.sig-singleton-a1",
		RefreshToken: "rt_singleton_refresh_a1",
	}}, snap.Singletons["openai-codex"], "tokens under providers.<p>.tokens")
	assert.Equal(t, pool.Tokens{AccessToken: "nous-access-token-0001", RefreshToken: "nous-refresh-token-0001"},
		snap.Singletons["nous"].Tokens, "tokens at providers.<p> top level")
	snap.Pools["openrouter"] = nil
	assert.Nil(t, f.Pools["openrouter"], "Snapshot shares the Pools map")
}

func TestRoundTripChangedEntry(t *testing.T) {
	data := readSample(t)
	tests := []struct {
		name     string
		provider string
		id       string
		change   func(e *pool.Entry)
		want     map[string]any // fields of that entry that must differ
	}{
		{
			name: "ok entry becomes exhausted", provider: "openrouter", id: "77aa11",
			change: func(e *pool.Entry) {
				e.StatusFields = pool.StatusFields{LastStatus: pool.StatusExhausted, LastStatusAt: 1780000000.25,
					LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorMessage: "slow down"}
				e.RequestCount++
			},
			want: map[string]any{"last_status": "exhausted", "last_status_at": json.Number("1780000000.25"),
				"last_error_code": json.Number("429"), "last_error_reason": "rate_limit_exceeded",
				"last_error_message": "slow down", "request_count": json.Number("1")},
		},
		{
			name: "exhausted entry recovers: six fields to null", provider: "openrouter", id: "9f8e7d",
			// failure_reason is one of the status fields (pool.StatusFields)
			// since Hermes writes it; it was an unknown field before.
			change: func(e *pool.Entry) { e.StatusFields = pool.StatusFields{} },
			want: map[string]any{"last_status": nil, "last_status_at": nil, "last_error_code": nil,
				"last_error_reason": nil, "last_error_message": nil, "last_error_reset_at": nil, "failure_reason": nil},
		},
		{
			name: "integral time written as Python's float repr", provider: "openai-codex", id: "d4e5f6",
			change: func(e *pool.Entry) { e.LastStatusAt = 1780000000 },
			want:   map[string]any{"last_status_at": json.Number("1780000000.0")},
		},
		{
			name: "re-auth: new tokens, unknown fields untouched", provider: "openai-codex", id: "a1b2c3",
			change: func(e *pool.Entry) {
				e.AccessToken, e.RefreshToken = "new-access", "new-refresh"
				e.StatusFields = pool.StatusFields{}
			},
			want: map[string]any{"access_token": "new-access", "refresh_token": "new-refresh",
				"last_status": nil, "last_status_at": nil, "last_error_code": nil,
				"last_error_reason": nil, "last_error_message": nil, "last_error_reset_at": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(data)
			require.NoError(t, err)
			idx := -1
			for i, e := range f.Pools[tt.provider] {
				if e.ID == tt.id {
					idx = i
				}
			}
			require.GreaterOrEqual(t, idx, 0)
			tt.change(&f.Pools[tt.provider][idx])
			out, err := f.Marshal()
			require.NoError(t, err)

			want := generic(t, data)
			for k, v := range tt.want {
				entryOf(t, want, tt.provider, idx)[k] = v
			}
			got := generic(t, out)
			assert.Equal(t, want, got, "only the changed fields of that entry differ")
			assert.Equal(t, keysOf(t, data, tt.provider, tt.id), keysOf(t, out, tt.provider, tt.id), "key order kept")

			// The unknown fields of the sample, and known ones no case
			// changes, spelled out.
			assert.Equal(t, "kept verbatim by every writer", entryOf(t, got, "openrouter", 2)["x_team_note"])
			assert.Equal(t, "sha256:12ab34cd56ef7890", entryOf(t, got, "openrouter", 0)["secret_fingerprint"])
			assert.Equal(t, "bitwarden", entryOf(t, got, "openrouter", 0)["secret_source"])
			assert.Equal(t, map[string]any{"insecure": false, "ca_bundle": nil},
				got["providers"].(map[string]any)["nous"].(map[string]any)["tls"])
			assert.Equal(t, map[string]any{"kept": true, "n": []any{json.Number("1"), json.Number("2"), json.Number("3")}},
				got["x_unknown_top_level"])
			assert.Equal(t, want["suppressed_sources"], got["suppressed_sources"])
		})
	}
}

func TestUnchangedFieldsKeepTheirRepresentation(t *testing.T) {
	f, err := Parse(readSample(t))
	require.NoError(t, err)
	e := findEntry(t, f, "openrouter", "9f8e7d")
	assert.Equal(t, 402, e.LastErrorCode)
	assert.Equal(t, 1780317000.0, e.LastStatusAt)
	e.RequestCount = 10 // something else changes
	out, err := f.Marshal()
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, `"last_status_at": "2026-06-01T12:30:00+00:00"`, "ISO string stays a string")
	assert.Contains(t, s, `"last_error_code": "402"`, "numeric string stays a string")
	assert.Contains(t, s, `"last_status_at": 1748779200.123456`, "numbers as written")
	assert.Contains(t, s, `"last_error_reset_at": 1749384000.0`, "1749384000.0 is not rewritten as 1749384000")
	assert.Regexp(t, `"request_count": 10,\s+"failure_reason": "billing"`, s)
	// A missing field stays missing: the env entry has no access_token.
	assert.NotContains(t, string(entryJSON(t, out, "openrouter", 0)), "access_token")
}

func entryJSON(t testing.TB, data []byte, provider string, i int) []byte {
	t.Helper()
	b, err := json.Marshal(entryOf(t, generic(t, data), provider, i))
	require.NoError(t, err)
	return b
}

func TestMarshalNewAndRemovedEntries(t *testing.T) {
	f, err := Parse(readSample(t))
	require.NoError(t, err)
	f.Pools["openrouter"] = append(f.Pools["openrouter"][:1:1], f.Pools["openrouter"][2:]...) // drop 9f8e7d
	f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{
		ID: "0a0b0c", Label: "added", AuthType: "api_key", Priority: 3, Source: "manual",
		AccessToken: "sk-added", Extra: map[string]json.RawMessage{"zeta": json.RawMessage(`{"a":[1]}`), "alpha": json.RawMessage(`true`)},
	})
	f.Pools["anthropic"] = []pool.Entry{{ID: "111111", Label: "claude", AuthType: "oauth", Source: "claude_code",
		AccessToken: "at", RefreshToken: "rt", ExpiresAt: 1780000000, Priority: 0}}
	delete(f.Pools, "custom:together.ai")
	out, err := f.Marshal()
	require.NoError(t, err)

	want := `{
        "id": "0a0b0c",
        "label": "added",
        "auth_type": "api_key",
        "priority": 3,
        "source": "manual",
        "access_token": "sk-added",
        "last_status": null,
        "last_status_at": null,
        "last_error_code": null,
        "last_error_reason": null,
        "last_error_message": null,
        "last_error_reset_at": null,
        "request_count": 0,
        "alpha": true,
        "zeta": {
          "a": [
            1
          ]
        }
      }`
	assert.Contains(t, string(out), want, "a new entry has Hermes' fields and order, extras sorted")
	assert.Contains(t, string(out), `"expires_at": "2026-05-28T20:26:40+00:00"`, "new expiry as ISO text")

	got := generic(t, out)
	cp := got["credential_pool"].(map[string]any)
	assert.NotContains(t, cp, "custom:together.ai", "removed pool is gone")
	ids := []string{}
	for _, e := range cp["openrouter"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	assert.Equal(t, []string{"abc123", "77aa11", "0a0b0c"}, ids)
	assert.Equal(t, "kept verbatim by every writer", entryOf(t, got, "openrouter", 1)["x_team_note"])
	assert.Regexp(t, `"openrouter": \[[\s\S]*"anthropic": \[`, string(out), "a new pool goes at the end")
}

func TestExtraChanges(t *testing.T) {
	f, err := Parse(readSample(t))
	require.NoError(t, err)
	e := findEntry(t, f, "openrouter", "77aa11")
	delete(e.Extra, "x_team_note")
	e.Extra["x_new"] = json.RawMessage(`"n"`)
	out, err := f.Marshal()
	require.NoError(t, err)
	got := entryOf(t, generic(t, out), "openrouter", 2)
	assert.NotContains(t, got, "x_team_note")
	assert.Equal(t, "n", got["x_new"])

	e.Extra["broken"] = json.RawMessage(`{not json`)
	_, err = f.Marshal()
	assert.Error(t, err, "Marshal refuses to write invalid JSON")
}

func TestExpiryForms(t *testing.T) {
	tests := []struct {
		name    string
		fields  string
		want    float64
		newWant string // the fields after ExpiresAt is set to 1780000000.5
	}{
		{"seconds", `"expires_at": 1770000000`, 1770000000, `"expires_at": 1780000000.5`},
		{"milliseconds in expires_at", `"expires_at": 1770000000000`, 1770000000, `"expires_at": 1780000000500`},
		{"ISO", `"expires_at": "2026-02-02T02:40:00+00:00"`, 1770000000, `"expires_at": "2026-05-28T20:26:40.500000+00:00"`},
		{"expires_at_ms", `"expires_at_ms": 1770000000000`, 1770000000, `"expires_at_ms": 1780000000500`},
		{"null expires_at beside expires_at_ms", `"expires_at": null, "expires_at_ms": 1770000000000`, 1770000000, `"expires_at": null,
        "expires_at_ms": 1780000000500`},
		{"none", `"x": 1`, 0, `"x": 1,
        "expires_at": "2026-05-28T20:26:40.500000+00:00"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(`{"credential_pool": {"p": [{"id": "aaaaaa", ` + tt.fields + `}]}}`))
			require.NoError(t, err)
			e := &f.Pools["p"][0]
			assert.Equal(t, tt.want, e.ExpiresAt)
			e.ExpiresAt = 1780000000.5
			out, err := f.Marshal()
			require.NoError(t, err)
			assert.Contains(t, string(out), tt.newWant)
			f2, err := Parse(out)
			require.NoError(t, err)
			assert.Equal(t, 1780000000.5, f2.Pools["p"][0].ExpiresAt, "reads back the same")
		})
	}
}

func TestNew(t *testing.T) {
	out, err := New().Marshal()
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"version\": 1,\n  \"providers\": {},\n  \"credential_pool\": {}\n}\n", string(out))
}

func TestQuoteLikePython(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"caf\u00e9", `"caf\u00e9"`},
		{"\U0001F600", `"\ud83d\ude00"`},
		{"a\"b\\c\n\t\x01\x7f", `"a\"b\\c\n\t\u0001\u007f"`},
		{"<&>", `"<&>"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := string(appendQuoted(nil, tt.in))
			assert.Equal(t, tt.want, got)
			var back string
			require.NoError(t, json.Unmarshal([]byte(got), &back))
			assert.Equal(t, tt.in, back)
		})
	}
}

func TestFloatLikePython(t *testing.T) {
	for in, want := range map[float64]string{
		1749384000: "1749384000.0", 1748779200.123456: "1748779200.123456", 0.5: "0.5",
		1e16: "1e+16", 1e-5: "1e-05",
	} {
		assert.Equal(t, want, string(appendFloat(nil, in)))
	}
	assert.True(t, strings.HasPrefix(epoch.ISO(1780317000), "2026-06-01T12:30:00+00:00"))
}
