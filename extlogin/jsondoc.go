package extlogin

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// object is a JSON object as its members in file order, with where each
// sits in the document: a write-back replaces a few values in place and
// leaves every other byte of the file as the tool wrote it.
type object struct {
	members []member
	open    int // offset of the '{' in the document
}

type member struct {
	key string
	raw json.RawMessage
	// keyStart is the offset of the key's opening quote, keyEnd just past
	// its closing one; the value is doc[start:end].
	keyStart, keyEnd, start, end int
}

// decodeObject parses data, which must be one JSON object. A syntax error
// or an early end is ErrPartial (a writer may be half-way), any other
// shape ErrBadFile; neither message quotes the file.
func decodeObject(data []byte, what string) (object, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return object{}, problemf(ErrPartial, "the file is empty")
	}
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			if se.Offset >= int64(len(data)) {
				return object{}, problemf(ErrPartial, "the JSON ends early, at byte %d", len(data))
			}
			return object{}, problemf(ErrPartial, "not valid JSON at byte %d", se.Offset)
		}
		return object{}, problemf(ErrPartial, "not valid JSON")
	}
	return splitObject(data, 0, what)
}

// splitObject splits raw, valid JSON that sits at offset base of the
// document, into its members, or fails when it is not an object.
func splitObject(raw []byte, base int, what string) (object, error) {
	bad := func() (object, error) {
		return object{}, problemf(ErrBadFile, "%s: want an object, got %s", what, kindOf(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return bad()
	}
	o := object{open: base + int(dec.InputOffset()) - 1}
	for dec.More() {
		pre := int(dec.InputOffset())
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return bad()
		}
		keyEnd := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return bad()
		}
		end := int(dec.InputOffset())
		start := end - len(v)
		keyStart := bytes.IndexByte(raw[pre:keyEnd], '"') + pre
		if keyStart < pre || start < keyEnd || !bytes.Equal(raw[start:end], v) {
			return bad() // not where the decoder said: never edit blind
		}
		o.members = append(o.members, member{key: key, raw: v,
			keyStart: base + keyStart, keyEnd: base + keyEnd, start: base + start, end: base + end})
	}
	return o, nil
}

// get is the value of key (the last one, as JavaScript's JSON.parse keeps,
// should the key repeat).
func (o object) get(key string) (member, bool) {
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key == key {
			return o.members[i], true
		}
	}
	return member{}, false
}

// edits are replacements of byte ranges of one document.
type edits []edit

type edit struct {
	start, end int
	text       []byte
}

// set replaces the value of every member named key, or adds the member
// after the last one, laid out like it (its indentation and its ": ").
func (e *edits) set(doc []byte, o object, key string, v []byte) {
	found := false
	for _, m := range o.members {
		if m.key == key {
			*e = append(*e, edit{m.start, m.end, v})
			found = true
		}
	}
	if found {
		return
	}
	if len(o.members) == 0 {
		*e = append(*e, edit{o.open + 1, o.open + 1, append(append(quote(key), ':'), v...)})
		return
	}
	last := o.members[len(o.members)-1]
	indent := last.keyStart
	for indent > 0 && isWS(doc[indent-1]) {
		indent--
	}
	var b []byte
	b = append(b, ',')
	b = append(b, doc[indent:last.keyStart]...)
	b = append(b, quote(key)...)
	b = append(b, doc[last.keyEnd:last.start]...)
	b = append(b, v...)
	*e = append(*e, edit{last.end, last.end, b})
}

// apply returns doc with the edits made; they must not overlap.
func (e edits) apply(doc []byte) []byte {
	sorted := slices.Clone(e)
	slices.SortStableFunc(sorted, func(a, b edit) int { return a.start - b.start })
	var out []byte
	at := 0
	for _, ed := range sorted {
		out = append(out, doc[at:ed.start]...)
		out = append(out, ed.text...)
		at = ed.end
	}
	return append(out, doc[at:]...)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// str is key's string value; a missing or null key is "" and false.
func (o object) str(path, key string) (string, bool, error) {
	m, ok := o.get(key)
	raw := m.raw
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, problemf(ErrBadFile, "field %s: want a string, got %s", join(path, key), kindOf(raw))
	}
	return s, true, nil
}

// num is key's number value (a numeric string is taken too); a missing or
// null key is 0.
func (o object) num(path, key string) (float64, error) {
	m, ok := o.get(key)
	raw := m.raw
	if !ok || isNull(raw) {
		return 0, nil
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, problemf(ErrBadFile, "field %s: want a number, got %s", join(path, key), kindOf(raw))
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, problemf(ErrBadFile, "field %s: want a number, got %s", join(path, key), kindOf(raw))
	}
	return f, nil
}

// obj is key's object value; a missing or null key is nil and false.
func (o object) obj(path, key string) (object, bool, error) {
	m, ok := o.get(key)
	if !ok || isNull(m.raw) {
		return object{}, false, nil
	}
	sub, err := splitObject(m.raw, m.start, "field "+join(path, key))
	if err != nil {
		return object{}, false, err
	}
	return sub, true, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// kindOf names the JSON type of raw, for an error message that must not
// quote the value.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// quote is s as a JSON string, with no HTML escaping (the tools write
// none).
func quote(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}
