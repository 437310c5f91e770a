package authfile

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FuzzRoundTrip: whatever Parse accepts, Marshal writes as JSON that Parse
// accepts again, loses no field (other than filling in missing ids), and a
// second round trip gives the same bytes. Update's shortcuts agree: a parsed
// document reports no change and renders as Marshal does.
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
		if !f1.rendersAsParsed(m1) {
			t.Fatalf("the parsed rendering differs from Marshal")
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
	})
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
