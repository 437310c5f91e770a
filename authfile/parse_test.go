package authfile

import (
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

func TestTolerantReads(t *testing.T) {
	entry := func(fields string) string {
		return `{"credential_pool": {"p": [{"id": "aaaaaa", ` + fields + `}]}}`
	}
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, e pool.Entry)
	}{
		{"last_status_at number", entry(`"last_status_at": 1748779200.5`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1748779200.5, e.LastStatusAt) }},
		{"last_status_at ISO with offset", entry(`"last_status_at": "2026-06-01T12:30:00+00:00"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1780317000.0, e.LastStatusAt) }},
		{"last_status_at ISO Z with fraction", entry(`"last_status_at": "2026-06-01T12:30:00.25Z"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1780317000.25, e.LastStatusAt) }},
		{"last_status_at ISO other zone", entry(`"last_status_at": "2026-06-01T14:30:00+02:00"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1780317000.0, e.LastStatusAt) }},
		{"last_status_at ISO without zone is UTC", entry(`"last_status_at": "2026-06-01T12:30:00"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1780317000.0, e.LastStatusAt) }},
		{"last_status_at numeric string", entry(`"last_status_at": "1748779200.5"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 1748779200.5, e.LastStatusAt) }},
		{"last_error_code number", entry(`"last_error_code": 429`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 429, e.LastErrorCode) }},
		{"last_error_code string", entry(`"last_error_code": "402"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 402, e.LastErrorCode) }},
		{"last_error_code string with spaces", entry(`"last_error_code": " 401 "`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 401, e.LastErrorCode) }},
		{"last_error_code 429.0", entry(`"last_error_code": 429.0`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 429, e.LastErrorCode) }},
		{"nulls everywhere", entry(`"label": null, "priority": null, "access_token": null, "last_status": null, "last_status_at": null, "last_error_code": null, "expires_at": null, "request_count": null`),
			func(t *testing.T, e pool.Entry) {
				assert.Equal(t, pool.Entry{ID: "aaaaaa"}, e)
			}},
		{"priority as string", entry(`"priority": "3"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, 3, e.Priority) }},
		{"escaped strings", entry(`"label": "caf\u00e9 \"x\""`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, `café "x"`, e.Label) }},
		{"BOM", "\ufeff" + entry(`"label": "bom"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, "bom", e.Label) }},
		{"unknown fields in Extra", entry(`"x": {"y": [1, 2]}, "z": null`),
			func(t *testing.T, e pool.Entry) {
				assert.JSONEq(t, `{"y": [1, 2]}`, string(e.Extra["x"]))
				assert.Equal(t, "null", string(e.Extra["z"]))
			}},
		{"repeated key: last wins", entry(`"label": "one", "label": "two"`),
			func(t *testing.T, e pool.Entry) { assert.Equal(t, "two", e.Label) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.doc))
			require.NoError(t, err)
			require.Len(t, f.Pools["p"], 1)
			tt.check(t, f.Pools["p"][0])
		})
	}
}

func TestTolerantDocuments(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		pools int
	}{
		{"no credential_pool", `{"version": 1, "providers": {}}`, 0},
		{"credential_pool null", `{"credential_pool": null}`, 0},
		{"a null pool", `{"credential_pool": {"p": null, "q": []}}`, 1},
		{"empty object", `{}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.doc))
			require.NoError(t, err)
			assert.Len(t, f.Pools, tt.pools)
			out, err := f.Marshal()
			require.NoError(t, err)
			assert.Equal(t, generic(t, []byte(tt.doc)), generic(t, out), "written back as it was")
		})
	}
}

func TestMissingID(t *testing.T) {
	doc := []byte(`{"credential_pool": {"p": [
		{"label": "a"}, {"label": "a"}, {"id": null, "label": "b"}, {"id": "", "label": "c"}, {"id": "abcdef"}]}}`)
	f, err := Parse(doc)
	require.NoError(t, err)
	seen := map[string]bool{}
	hex6 := regexp.MustCompile(`^[0-9a-f]{6}$`)
	for _, e := range f.Pools["p"] {
		assert.Regexp(t, hex6, e.ID)
		assert.False(t, seen[e.ID], "ids are unique in the pool")
		seen[e.ID] = true
	}
	assert.Equal(t, "abcdef", f.Pools["p"][4].ID)

	again, err := Parse(doc)
	require.NoError(t, err)
	assert.Equal(t, f.Pools, again.Pools, "every reader of the same file agrees on the fresh ids")

	out, err := f.Marshal()
	require.NoError(t, err)
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, f.Pools, back.Pools, "the fresh ids are written")
}

func TestCorrupt(t *testing.T) {
	secret := "sk-very-secret-token"
	tests := []struct {
		name      string
		doc       string
		line, col int
	}{
		{"empty", ``, 1, 1},
		{"whitespace only", " \n\t", 2, 2},
		{"BOM only", "\ufeff", 1, 4},
		{"truncated", `{"credential_pool": {"p": [{"access_token": "` + secret, 1, 66},
		{"syntax error position", "{\n  \"a\": x\n}", 2, 8},
		{"trailing garbage", `{} {}`, 1, 4},
		{"top level array", ` []`, 1, 2},
		{"credential_pool array", `{"credential_pool": []}`, 1, 21},
		{"pool object", `{"credential_pool": {"p": {}}}`, 1, 27},
		{"entry not object", `{"credential_pool": {"p": [1]}}`, 1, 28},
		{"pool null entry", `{"credential_pool": {"p": [null]}}`, 1, 28},
		{"providers and a truncated pool", `{"providers": {"p": {"access_token": "` + secret + `"}}, "credential_pool": {"p": [{"id": "a"`, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.doc))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, tt.line, ce.Line, "line")
			assert.Equal(t, tt.col, ce.Col, "col")
			assert.LessOrEqual(t, ce.Offset, int64(len(tt.doc)))
			assert.NotContains(t, err.Error(), secret, "no file content in the message")
			assert.NotContains(t, err.Error(), "sk-", "no file content in the message")
		})
	}
}

func TestTruncatedSample(t *testing.T) {
	data := readSample(t)
	for _, n := range []int{0, 1, 2, 100, 1000, len(data) / 2, len(data) - 3, len(data) - 2} {
		_, err := Parse(data[:n])
		assert.ErrorIs(t, err, ErrCorrupt, "truncated at %d", n)
		var ce *CorruptError
		if assert.True(t, errors.As(err, &ce)) {
			assert.LessOrEqual(t, ce.Offset, int64(n))
		}
	}
	_, err := Parse(data[:len(data)-1]) // only the trailing newline is gone
	assert.NoError(t, err)
}
