package authfile

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FuzzRoundTrip: whatever Parse accepts, Marshal writes as JSON that Parse
// accepts again, loses no field (other than filling in missing ids), keeps
// every unreadable value byte for byte, and a second round trip gives the
// same bytes. A parsed document reports no change. Then every field of
// every entry is set through the field table: changed agrees with two
// marshals, the output has one member per key, and every value reads back
// as set, the unreadable ones replaced.
func FuzzRoundTrip(f *testing.F) {
	if data, err := os.ReadFile(samplePath); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		f1, err := Parse(data)
		if err != nil {
			return
		}
		m1, err := f1.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed document: %v", err)
		}
		if f1.changed() {
			t.Fatalf("a document just parsed reports a change")
		}
		f2, err := Parse(m1)
		if err != nil {
			t.Fatalf("Parse of our own output: %v\n%s", err, m1)
		}
		m2, err := f2.Marshal()
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(m1, m2) {
			t.Fatalf("second round trip differs:\n%s\n---\n%s", m1, m2)
		}

		orig, ok1 := decodeAny(bytes.TrimPrefix(data, utf8BOM))
		got, ok2 := decodeAny(m1)
		if !ok1 || !ok2 {
			t.Fatalf("not decodable: input %v, output %v", ok1, ok2)
		}
		dropFreshIDs(orig, got)
		if !jsonEqual(orig, got) {
			t.Fatalf("fields lost or changed:\n%s\n---\n%s", data, m1)
		}
		checkEntryKeys(t, m1)
		for provider, entries := range f1.Pools {
			for i, e := range entries {
				for _, name := range e.Unreadable {
					kept, ok := e.Extra[name]
					if !ok {
						t.Fatalf("%s[%d]: unreadable %s not kept", provider, i, name)
					}
					if !bytes.Contains(m1, kept) {
						t.Fatalf("unreadable %s not written as read: %s", name, kept)
					}
				}
			}
		}
		checkSetEveryField(t, data)
	})
}

// checkSetEveryField sets every field of every entry of data (but the id)
// to a sample value and checks what Marshal makes of it.
func checkSetEveryField(t *testing.T, data []byte) {
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("second Parse: %v", err)
	}
	f.setUpdatedAt(fixedNow())
	before, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, entries := range f.Pools {
		for i := range entries {
			for fld := field(1); fld < numFields; fld++ {
				if fld != fID {
					setSample(&entries[i], fld)
				}
			}
		}
	}
	after, err := f.Marshal()
	if err != nil {
		t.Fatalf("Marshal after setting every field: %v", err)
	}
	if f.changed() != !bytes.Equal(before, after) {
		t.Fatalf("changed() = %v, but the two marshals are equal: %v", f.changed(), bytes.Equal(before, after))
	}
	checkEntryKeys(t, after)
	back, err := Parse(after)
	if err != nil {
		t.Fatalf("Parse after setting every field: %v\n%s", err, after)
	}
	for provider, entries := range f.Pools {
		for i := range entries {
			e, got := &entries[i], &back.Pools[provider][i]
			for fld := field(1); fld < numFields; fld++ {
				if fld != fID && !table[fld].kind.same(e, got) {
					t.Fatalf("%s[%d].%s does not read back as set\n%s", provider, i, table[fld].name, after)
				}
			}
			if len(got.Unreadable) > 1 || (len(got.Unreadable) == 1 && got.Unreadable[0] != "id") {
				t.Fatalf("%s[%d]: still unreadable after every field was set: %v", provider, i, got.Unreadable)
			}
		}
	}
}

// checkEntryKeys fails when an entry of data has two members with one key:
// a replaced unreadable value must take the place of the kept bytes.
func checkEntryKeys(t *testing.T, data []byte) {
	// A map, not a struct: encoding/json matches struct fields without
	// regard to case, and "Credential_Pool" is an unknown key.
	var top map[string]json.RawMessage
	var pools map[string][]json.RawMessage
	if json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &top) != nil ||
		json.Unmarshal(top[keyCredentialPool], &pools) != nil {
		return // no credential_pool, or a null one; Parse checked the structure
	}
	for provider, entries := range pools {
		for i, raw := range entries {
			dec := json.NewDecoder(bytes.NewReader(raw))
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				if seen[k.(string)] {
					t.Fatalf("%s[%d] has %q twice", provider, i, k)
				}
				seen[k.(string)] = true
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func decodeAny(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	return v, dec.Decode(&v) == nil
}

// dropFreshIDs removes, on both sides, the ids Parse made up for entries
// that had none.
func dropFreshIDs(orig, got any) {
	op, _ := orig.(map[string]any)["credential_pool"].(map[string]any)
	gp, _ := got.(map[string]any)["credential_pool"].(map[string]any)
	for provider, entries := range op {
		oe, _ := entries.([]any)
		ge, _ := gp[provider].([]any)
		for i := range oe {
			o := oe[i].(map[string]any)
			if id, _ := o["id"].(string); id == "" && i < len(ge) {
				delete(o, "id")
				delete(ge[i].(map[string]any), "id")
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// FuzzValidate: our validator agrees with encoding/json on what is JSON.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{`{}`, `[1, -0.5e+3, "a\u00e9\n", true, false, null]`, `{"a": {"b": []}}`,
		`01`, `1.`, `-`, `"\x"`, `"\u12"`, "\"\x01\"", `{"a" 1}`, `[1,]`, `{,}`, ` `, `"\xff"`} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(samplePath); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		off, ok := validate(data)
		if ok != json.Valid(data) {
			t.Fatalf("validate = %v, json.Valid = %v for %q", ok, !ok, data)
		}
		if !ok && (off < 0 || off > len(data)) {
			t.Fatalf("offset %d out of range", off)
		}
	})
}

// validate is validateCount without the count, for the fuzzer.
func validate(data []byte) (off int, ok bool) {
	off, ok, _ = validateCount(data)
	return off, ok
}
