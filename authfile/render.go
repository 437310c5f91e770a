package authfile

import (
	"fmt"
	"slices"

	"github.com/credpool/credpool/pool"
)

// entry writes an entry that was on disk: its members in their order, each
// unchanged value as it was, then the fields that are new to it, then new
// unknown fields.
func (w *writer) entry(doc []byte, e *pool.Entry, rec *record) error {
	w.buf.WriteByte('{')
	n := 0
	var seen fieldSet
	extraSeen := 0
	for _, sp := range rec.obj {
		fld := sp.fld
		val := sp.val(doc)
		if fld == fNone {
			key := sp.key(doc)
			v, ok := e.Extra[key]
			if !ok {
				continue // the caller deleted it
			}
			extraSeen++
			w.member(&n, entryDepth, sp.rawKey(doc))
			if err := w.extra(v, val, entryDepth); err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
			continue
		}
		seen |= 1 << fld
		spec := &table[fld]
		w.member(&n, entryDepth, sp.rawKey(doc))
		if v, ok := keptRaw(fld, e, &rec.known); ok {
			extraSeen++
			if err := w.extra(v, val, entryDepth); err != nil {
				return fmt.Errorf("field %q: %w", spec.name, err)
			}
			continue
		}
		// An unreadable member whose kept bytes are gone is written from
		// the field, changed or not.
		unchanged := !rec.unread.has(fld) && spec.kind.same(e, &rec.known)
		if _, ok := spec.kind.(expiry); ok && !rec.unread.has(fld) && !rec.carriesExpiry(fld) {
			unchanged = true // only the members that carry the expiry change with it
		}
		if unchanged {
			w.buf.Write(val)
			continue
		}
		w.buf.Write(spec.kind.render(w.buf.AvailableBuffer(), e, rec, val))
	}
	for fld := field(1); fld < numFields; fld++ {
		spec := &table[fld]
		if seen.has(fld) || spec.emit == never {
			continue
		}
		if v, ok := keptRaw(fld, e, &rec.known); ok {
			extraSeen++
			w.member(&n, entryDepth, appendQuoted(nil, spec.name))
			if err := w.extra(v, nil, entryDepth); err != nil {
				return fmt.Errorf("field %q: %w", spec.name, err)
			}
			continue
		}
		if spec.kind.same(e, &rec.known) || (fld == fExpiresAt && seen.has(fExpiresAtMS)) {
			continue // expires_at_ms carries the expiry
		}
		w.member(&n, entryDepth, appendQuoted(nil, spec.name))
		w.buf.Write(spec.kind.render(w.buf.AvailableBuffer(), e, nil, nil))
	}
	if extraSeen < len(e.Extra) {
		if err := w.newExtra(&n, e, func(k string) bool {
			for _, sp := range rec.obj {
				if sp.key(doc) == k {
					return true
				}
			}
			return false
		}); err != nil {
			return err
		}
	}
	w.close(n, entryDepth-1, '}')
	return nil
}

// newEntry writes an entry that was not on disk with the fields Hermes
// writes, in its order: the always-written ones (null when clear), the
// others only when set.
func (w *writer) newEntry(e *pool.Entry) error {
	w.buf.WriteByte('{')
	n := 0
	var none pool.Entry
	for fld := field(1); fld < numFields; fld++ {
		spec := &table[fld]
		if spec.emit == never {
			continue
		}
		if v, ok := keptRaw(fld, e, &none); ok {
			w.member(&n, entryDepth, appendQuoted(nil, spec.name))
			if err := w.extra(v, nil, entryDepth); err != nil {
				return fmt.Errorf("field %q: %w", spec.name, err)
			}
			continue
		}
		if spec.emit == whenSet && spec.kind.zero(e) {
			continue
		}
		w.member(&n, entryDepth, appendQuoted(nil, spec.name))
		w.buf.Write(spec.kind.render(w.buf.AvailableBuffer(), e, nil, nil))
	}
	if err := w.newExtra(&n, e, func(string) bool { return false }); err != nil {
		return err
	}
	w.close(n, entryDepth-1, '}')
	return nil
}

// keptRaw returns the bytes to write for known field fld when they are the
// ones kept for it: the field was unreadable (named in e.Unreadable, its
// bytes in e.Extra) and still holds the value it was read with (known). A
// caller that sets the field replaces the bytes in place; one that wants
// the field's zero value written deletes the Extra member.
func keptRaw(fld field, e, known *pool.Entry) ([]byte, bool) {
	if len(e.Unreadable) == 0 {
		return nil, false
	}
	spec := &table[fld]
	if !slices.Contains(e.Unreadable, spec.name) {
		return nil, false
	}
	v, ok := e.Extra[spec.name]
	if !ok || !spec.kind.same(e, known) {
		return nil, false
	}
	return v, true
}

// newExtra writes the Extra fields that are not among the on-disk members,
// sorted, since a map has no order of its own. Extra members named like a
// known field are written only as keptRaw says, never beside the field.
func (w *writer) newExtra(n *int, e *pool.Entry, onDisk func(key string) bool) error {
	var keys []string
	for k := range e.Extra {
		if fieldOf[k] != fNone || onDisk(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.member(n, entryDepth, appendQuoted(nil, k))
		if err := w.extra(e.Extra[k], nil, entryDepth); err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	return nil
}
