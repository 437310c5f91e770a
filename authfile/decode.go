package authfile

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"github.com/credpool/credpool/pool"
)

// entryDecoder reads one entry's members into a pool.Entry; one serves a
// whole parse.
type entryDecoder struct {
	e            *pool.Entry
	rec          *record
	sa           *strArena
	expAt, expMS float64 // expires_at and expires_at_ms as read
}

// entry reads rec's members into e and fills in rec.known. A known field
// whose value cannot be read is kept like an unknown one (in Extra, byte
// for byte) and named in Unreadable; the rest of the entry, and of the
// file, is read as usual.
func (d *entryDecoder) entry(doc []byte, e *pool.Entry, rec *record) {
	*d = entryDecoder{e: e, rec: rec, sa: d.sa}
	for _, sp := range rec.obj {
		val := sp.val(doc)
		if sp.fld != fNone {
			if err := table[sp.fld].kind.decode(d, val); err == nil {
				continue
			}
			rec.unread |= 1 << sp.fld
			e.Unreadable = append(e.Unreadable, table[sp.fld].name)
		}
		if e.Extra == nil {
			e.Extra = make(map[string]json.RawMessage, 4)
		}
		e.Extra[d.sa.key(sp.key(doc))] = d.sa.bytes(val)
	}
	e.ExpiresAt = d.expAt
	if e.ExpiresAt == 0 {
		e.ExpiresAt = d.expMS
	}
	rec.expAt, rec.expMS = d.expAt != 0, d.expMS != 0

	rec.known = *e
	rec.known.Extra = nil
	// The caller may change these in place; known must not change with them.
	rec.known.Unreadable = slices.Clone(e.Unreadable)
	rec.known.ModelCooldowns = maps.Clone(e.ModelCooldowns)
	rec.known.ModelCooldownObservedAt = maps.Clone(e.ModelCooldownObservedAt)
}

// strArena holds copies of the strings and unknown values that entries
// carry out of Parse. The daemon's pool keeps them for as long as it runs;
// were they views of the document, as everything else the File holds is,
// the whole document (its whitespace, keys and numbers, several times the
// strings' size) would stay in memory with them.
type strArena struct {
	chunk []byte
	keys  map[string]string // unknown keys, one copy each
}

const strChunk = 64 << 10

func (a *strArena) bytes(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, max(strChunk, len(b)))
	}
	n := len(a.chunk)
	// Only ever appended to: the bytes handed out never change.
	a.chunk = append(a.chunk, b...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

func (a *strArena) copy(s string) string {
	if s == "" {
		return ""
	}
	return view(a.bytes(unsafe.Slice(unsafe.StringData(s), len(s))))
}

func (a *strArena) key(k string) string {
	if c, ok := a.keys[k]; ok {
		return c
	}
	if a.keys == nil {
		a.keys = map[string]string{}
	}
	c := strings.Clone(k)
	a.keys[c] = c
	return c
}
