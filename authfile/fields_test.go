package authfile

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// entryFields lists the json-tagged fields of pool.Entry, those of the
// embedded StatusFields included: tag name → the field's address in e.
func entryFields(t *testing.T, e *pool.Entry) map[string]uintptr {
	t.Helper()
	out := map[string]uintptr{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			sf, fv := v.Type().Field(i), v.Field(i)
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				walk(fv)
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			require.NotContains(t, out, name, "two fields tagged %q", name)
			out[name] = fv.Addr().Pointer()
		}
	}
	walk(reflect.ValueOf(e).Elem())
	return out
}

// TestFieldTableCoversEntry: every json-tagged field of pool.Entry has a
// row in the field table whose accessor reaches that very field, and
// every row reaches a field tagged with its name (expires_at_ms is the
// second spelling of expires_at). A field added to pool.Entry and not to
// the table, or a row pointing at the wrong field, fails here.
func TestFieldTableCoversEntry(t *testing.T) {
	var e pool.Entry
	fields := entryFields(t, &e)
	require.Contains(t, fields, "failure_reason", "StatusFields is walked")
	alias := map[string]string{"expires_at_ms": "expires_at"}

	covered := map[string]bool{}
	for f := field(1); f < numFields; f++ {
		spec := table[f]
		require.NotEmpty(t, spec.name, "row %d has no name", f)
		tag := spec.name
		if a, ok := alias[tag]; ok {
			tag = a
		}
		addr, ok := fields[tag]
		if !assert.True(t, ok, "row %q names no field of pool.Entry", spec.name) {
			continue
		}
		p := reflect.ValueOf(spec.kind.ptr(&e))
		require.Equal(t, reflect.Pointer, p.Kind(), "row %q", spec.name)
		assert.Equal(t, addr, p.Pointer(), "row %q reaches another field than the one tagged %q", spec.name, tag)
		assert.Equal(t, f, fieldOf[spec.name], "row %q is found by its name", spec.name)
		covered[tag] = true
	}
	for name := range fields {
		assert.True(t, covered[name], "pool.Entry field %q has no row in the field table", name)
	}
	assert.Equal(t, "id", table[fID].name)
	assert.Equal(t, "expires_at", table[fExpiresAt].name)
	assert.Equal(t, "expires_at_ms", table[fExpiresAtMS].name)
}

// TestFieldKindsAgree: for every row, a value set through the accessor is
// seen by zero and same, renders, and reads back equal; the zero value
// renders as the row's null form and reads back as zero.
func TestFieldKindsAgree(t *testing.T) {
	for f := field(1); f < numFields; f++ {
		spec := table[f]
		t.Run(spec.name, func(t *testing.T) {
			var zero, set pool.Entry
			setSample(&set, f)
			assert.True(t, spec.kind.zero(&zero))
			assert.False(t, spec.kind.zero(&set))
			assert.True(t, spec.kind.same(&zero, &pool.Entry{}))
			assert.False(t, spec.kind.same(&zero, &set))

			for _, e := range []*pool.Entry{&zero, &set} {
				raw := spec.kind.render(nil, e, nil, nil)
				var got pool.Entry
				d := entryDecoder{e: &got, rec: &record{}, sa: &strArena{}}
				require.NoError(t, spec.kind.decode(&d, raw), "%s", raw)
				got.ExpiresAt = max(d.expAt, d.expMS)
				assert.True(t, spec.kind.same(e, &got), "%s reads back as written", raw)
			}
		})
	}
}

// setSample sets field f of e to a value no file in the tests holds.
func setSample(e *pool.Entry, f field) {
	switch p := table[f].kind.ptr(e).(type) {
	case *string:
		*p = "set-" + table[f].name
	case *int:
		*p = 7
	case *float64:
		*p = 1780000001.25
	case *map[string]float64:
		*p = map[string]float64{"model-b": 1780000002, "model-a": 1780000003.5}
	default:
		panic("no sample for " + table[f].name)
	}
}
