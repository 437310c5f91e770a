package authfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// member is one key of a JSON object as it was on disk. Objects are kept as
// ordered member lists, not maps, because Hermes writes keys in insertion
// order and a rewrite that keeps that order gives readable diffs.
type member struct {
	key    string // decoded
	rawKey []byte // as written, quotes included
	val    []byte // raw value, no surrounding whitespace
	off    int    // offset of val in the document, for error positions
}

type object []member

func (o object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

func (o object) get(key string) (member, bool) {
	for _, m := range o {
		if m.key == key {
			return m, true
		}
	}
	return member{}, false
}

// span is a member as offsets into the document. Entries are kept as spans:
// without pointers, the hundreds of thousands of entry members of a large
// file cost the garbage collector nothing and take a quarter of the memory.
type span struct {
	k0, k1 int32 // raw key, quotes included
	v0, v1 int32 // raw value
	fld    field // the known entry field this key names, fNone if none
}

func (s span) rawKey(doc []byte) []byte { return doc[s.k0:s.k1] }
func (s span) val(doc []byte) []byte    { return doc[s.v0:s.v1] }
func (s span) key(doc []byte) string    { return decodeKey(doc[s.k0:s.k1]) }

// maxDoc keeps every offset within a span's int32.
const maxDoc = 1<<31 - 1

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(data []byte, i int) int {
	for i < len(data) && isWS(data[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at data[i].
func skipString(data []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data)
		}
		i += j
		n := 0 // backslashes before the quote; an odd count escapes it
		for k := i - 1; data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
}

// skipValue returns the index just past the value starting at data[i]. The
// data has been validated, so only strings and nesting need care.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(data)
	default:
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return len(data)
	}
}

// arena hands out the span lists of many small objects from shared chunks:
// one allocation per entry would dominate parsing a large file.
type arena struct {
	buf   []span
	keys  []string // decoded keys of the object being split
	chunk int
}

// splitObject splits the object at data[i:] (validated JSON, data[i] == '{')
// into its members.
func splitObject(data []byte, i int) object {
	var a arena
	spans, _ := a.object(data, i, nil)
	return members(data, spans)
}

func members(data []byte, spans []span) object {
	o := make(object, len(spans))
	for j, s := range spans {
		o[j] = member{key: s.key(data), rawKey: s.rawKey(data), val: s.val(data), off: int(s.v0)}
	}
	return o
}

// object splits the object at data[i:] (validated JSON, data[i] == '{') into
// spans and returns them with the index past the object. A repeated key
// keeps its first position and takes the last value, as Python's json.load
// and Go's encoding/json both let the last one win. When sub is not nil it
// is offered each value first; it parses the value itself and returns the
// index past it, or returns -1 to have it skipped.
func (a *arena) object(data []byte, i int, sub func(key string, at int) int) ([]span, int) {
	start := len(a.buf)
	a.keys = a.keys[:0]
	var index map[string]int // built once the object is too big for a linear scan
	i = skipWS(data, i+1)
	for data[i] != '}' {
		ks := i
		i = skipString(data, i)
		ke := i
		key := decodeKey(data[ks:ke])
		i = skipWS(data, i)
		i = skipWS(data, i+1) // ':'
		vs := i
		i = -1
		if sub != nil {
			i = sub(key, vs)
		}
		if i < 0 {
			i = skipValue(data, vs)
		}
		s := span{k0: int32(ks), k1: int32(ke), v0: int32(vs), v1: int32(i), fld: fieldOf[key]}

		dup := -1
		if index != nil {
			if j, ok := index[key]; ok {
				dup = j
			}
		} else {
			for j, k := range a.keys {
				if k == key {
					dup = j
					break
				}
			}
		}
		if dup >= 0 {
			a.buf[start+dup].v0, a.buf[start+dup].v1 = s.v0, s.v1
		} else {
			if len(a.buf) == cap(a.buf) {
				// New chunk; only this object's spans move.
				obj := a.buf[start:]
				nb := make([]span, len(obj), max(a.chunk, 2*len(obj), 8))
				copy(nb, obj)
				a.buf, start = nb, 0
			}
			a.buf = append(a.buf, s)
			a.keys = append(a.keys, key)
			if index != nil {
				index[key] = len(a.keys) - 1
			} else if len(a.keys) > 32 {
				index = make(map[string]int, 2*len(a.keys))
				for j, k := range a.keys {
					index[k] = j
				}
			}
		}
		if i = skipWS(data, i); data[i] == ',' {
			i = skipWS(data, i+1)
		}
	}
	end := len(a.buf)
	return a.buf[start:end:end], i + 1
}

func decodeKey(raw []byte) string {
	s, _ := decodeString(raw)
	return s
}

// decodeString decodes a raw JSON string. In the common case, no escapes
// and valid UTF-8, the result shares raw's memory instead of copying it:
// raw is always part of a document that Parse copied or that Store read
// and nobody modifies, and copying every label and token of a 10 MB file
// made up most of the parse time.
func decodeString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return view(inner), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// view is b as a string without a copy; b must never change afterwards.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

const hexDigits = "0123456789abcdef"

// shortEscapes are the two-character escapes Python writes.
var shortEscapes = [utf8.RuneSelf]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'}

// appendQuoted writes s as a JSON string the way Python's json.dump does by
// default (ensure_ascii): every non-ASCII rune as \uXXXX, so that values we
// write look like the ones Hermes writes.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch esc := shortEscapes[c]; {
			case esc != 0:
				b = append(b, '\\', esc)
			case c < 0x20 || c == 0x7f:
				b = appendU(b, rune(c))
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
		} else {
			b = appendU(b, r) // includes utf8.RuneError for invalid bytes
		}
		i += size
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendFloat writes f the way Python's repr does (1748779200.0, not
// 1.7487792e+09), since Hermes writes epoch times with time.time().
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[n:], '.') < 0 {
		b = append(b, '.', '0')
	}
	return b
}
