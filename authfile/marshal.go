package authfile

import (
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/credpool/credpool/pool"
)

// Marshal writes the document with a trailing newline. Every value read
// from the file and not changed is written byte for byte as it was read;
// what credpool writes (a changed value, a new entry, the structure around
// them) is laid out as Hermes' json.dumps(indent=2) does. An Extra value
// from the caller that is not valid JSON is an error.
func (f *File) Marshal() ([]byte, error) {
	w := &writer{}
	w.buf.Grow(f.size + f.size/8 + 256)
	if err := f.write(w); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// marshalTo writes the document to out as Marshal does, in pieces, each
// also given to h: only a few pieces are in memory at once, where Marshal
// holds the whole output.
func (f *File) marshalTo(out io.Writer, h hash.Hash) error {
	w := &writer{sink: func(b []byte) error {
		h.Write(b)
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("authfile: write: %w", err)
		}
		return nil
	}}
	return f.write(w)
}

// write renders the document into w.
func (f *File) write(w *writer) error {
	w.buf.WriteByte('{')
	n := 0
	sawPools := false
	singletons := f.singletonsChanged()
	for _, m := range f.top {
		w.member(&n, 1, m.rawKey)
		if m.key == "providers" && singletons && m.val[0] == '{' {
			f.writeProviders(w, m)
			continue
		}
		if m.key != keyCredentialPool {
			w.buf.Write(m.val)
			continue
		}
		sawPools = true
		if len(f.Pools) == 0 && m.val[0] == 'n' {
			w.buf.WriteString("null")
			continue
		}
		if err := f.writePools(w); err != nil {
			return err
		}
	}
	if !sawPools && len(f.Pools) > 0 {
		w.member(&n, 1, []byte(`"credential_pool"`))
		if err := f.writePools(w); err != nil {
			return err
		}
	}
	w.close(n, 0, '}')
	w.buf.WriteByte('\n')
	return w.flush(true)
}

func (f *File) writePools(w *writer) error {
	w.buf.WriteByte('{')
	n := 0
	for _, pm := range f.poolObj {
		if _, ok := f.Pools[pm.key]; !ok {
			if pm.val[0] == 'n' { // a null pool stays null; a removed pool goes
				w.member(&n, 2, pm.rawKey)
				w.buf.WriteString("null")
			}
			continue
		}
		w.member(&n, 2, pm.rawKey)
		if err := f.writeEntries(w, pm.key); err != nil {
			return err
		}
	}
	onDisk := f.poolObj.has
	if len(f.poolObj) > 16 {
		set := make(map[string]bool, len(f.poolObj))
		for _, pm := range f.poolObj {
			set[pm.key] = true
		}
		onDisk = func(k string) bool { return set[k] }
	}
	var added []string
	for k := range f.Pools {
		if !onDisk(k) {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	for _, k := range added {
		w.member(&n, 2, appendQuoted(nil, k))
		if err := f.writeEntries(w, k); err != nil {
			return err
		}
	}
	w.close(n, 1, '}')
	return nil
}

func (f *File) writeEntries(w *writer, provider string) error {
	w.buf.WriteByte('[')
	pr := f.records[provider]
	entries := f.Pools[provider]
	inPlace := pr.inPlace(entries)
	var used map[string]int // records handed out per id, for duplicate ids
	for i := range entries {
		e := &entries[i]
		var rec *record
		switch {
		case inPlace:
			rec = &pr.recs[i]
		case pr != nil:
			rec = pr.lookup(e.ID)
		}
		if !inPlace && rec != nil && rec.next != nil {
			if used == nil {
				used = map[string]int{}
			}
			for range used[e.ID] {
				if rec = rec.next; rec == nil {
					break
				}
			}
			used[e.ID]++
		}
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.newline(entryDepth - 1)
		var err error
		if rec == nil {
			err = w.newEntry(e)
		} else {
			err = w.entry(f.doc, e, rec)
		}
		if err != nil {
			return fmt.Errorf("authfile: credential_pool[%q] entry %q: %w", provider, e.ID, err)
		}
		if err := w.flush(false); err != nil {
			return err
		}
	}
	w.close(len(entries), 2, ']')
	return nil
}

// inPlace reports whether entries are the records' entries in their
// places (the usual write): then entry i is record i, and no index by id
// is needed.
func (p *poolRecs) inPlace(entries []pool.Entry) bool {
	if p == nil || len(p.recs) != len(entries) {
		return false
	}
	for i := range entries {
		if entries[i].ID != p.recs[i].id {
			return false
		}
	}
	return true
}
