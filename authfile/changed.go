package authfile

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/credpool/credpool/pool"
)

// changed reports whether Marshal would now write something other than
// what it wrote for the document as parsed: the one decision of whether
// Update writes. Most calls change a few counters of a large file, or
// nothing, so each entry is first checked field by field against its
// record (the field table's comparisons); only an entry that differs there
// is rendered, as it is and as it was parsed, to compare the bytes (a
// value can change and still be written the same, such as a key in Extra
// that names a known field).
//
// Structural changes (a pool added or removed, an entry added, removed or
// moved) count as changes without a render.
func (f *File) changed() bool {
	if len(f.Pools) != len(f.records) || f.singletonsChanged() {
		return true
	}
	var scratch [2]writer
	for provider, pr := range f.records {
		entries, ok := f.Pools[provider]
		if !ok || !pr.inPlace(entries) {
			return true
		}
		for i := range entries {
			e, rec := &entries[i], &pr.recs[i]
			if !rec.holds(f.doc, e) && rendersDifferently(&scratch, f.doc, e, rec) {
				return true
			}
		}
	}
	return false
}

// holds reports whether e is, in every field and unknown member, the entry
// rec was parsed into.
func (r *record) holds(doc []byte, e *pool.Entry) bool {
	if e.ID != r.id {
		return false
	}
	for fld := field(1); fld < numFields; fld++ {
		if fld != fID && !table[fld].kind.same(e, &r.known) {
			return false
		}
	}
	if !slices.Equal(e.Unreadable, r.known.Unreadable) {
		return false
	}
	n := 0
	for _, sp := range r.obj {
		if sp.fld != fNone && !r.unread.has(sp.fld) {
			continue
		}
		n++
		v, ok := e.Extra[sp.key(doc)]
		if !ok || !bytes.Equal(v, sp.val(doc)) {
			return false
		}
	}
	return n == len(e.Extra)
}

// parsed is the entry rec was parsed into, its Extra viewing the document.
func (r *record) parsed(doc []byte) pool.Entry {
	e := r.known
	e.ID = r.id
	for _, sp := range r.obj {
		if sp.fld != fNone && !r.unread.has(sp.fld) {
			continue
		}
		if e.Extra == nil {
			e.Extra = make(map[string]json.RawMessage, 4)
		}
		e.Extra[sp.key(doc)] = sp.val(doc)
	}
	return e
}

// rendersDifferently reports whether e renders other than the entry rec
// was parsed into; a render error counts as a difference (Marshal will
// report it).
func rendersDifferently(scratch *[2]writer, doc []byte, e *pool.Entry, rec *record) bool {
	now, was := &scratch[0], &scratch[1]
	now.buf.Reset()
	was.buf.Reset()
	p := rec.parsed(doc)
	if now.entry(doc, e, rec) != nil || was.entry(doc, &p, rec) != nil {
		return true
	}
	return !bytes.Equal(now.buf.Bytes(), was.buf.Bytes())
}
