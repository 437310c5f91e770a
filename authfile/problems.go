package authfile

import (
	"fmt"

	"github.com/credpool/credpool/pool"
)

// ProblemKind says what is wrong with an entry.
type ProblemKind string

const (
	// ProblemUnreadable: a known field holds a value credpool cannot read
	// (the wrong JSON type, an integer beyond ±2^53, a time out of range).
	// The value is kept as written and the entry is never handed out.
	ProblemUnreadable ProblemKind = "unreadable_field"
	// ProblemDuplicateID: an entry repeats the id of an earlier one in its
	// pool (a hand-copied entry, say). The first speaks for the id; the
	// later ones are kept on disk but not used.
	ProblemDuplicateID ProblemKind = "duplicate_id"
)

// Problem is something wrong with one entry of the file as read, for
// health and status. Its Message names fields and positions, never a
// value.
type Problem struct {
	Provider string
	Index    int    // the entry's position in its pool, in file order
	ID       string // the entry's id (the assigned one if it had none)
	Kind     ProblemKind
	Field    string // the field at fault ("id" for a duplicate id)
	Message  string
}

func (p Problem) String() string {
	return fmt.Sprintf("credential_pool[%q][%d] (id %q): %s", p.Provider, p.Index, p.ID, p.Message)
}

// Problems lists what is wrong with the entries of the file as it was
// read, pools in file order, entries in file order: unreadable fields and
// repeated ids. A document with problems is still read and written; the
// problems say what credpool leaves alone.
func (f *File) Problems() []Problem {
	var out []Problem
	for _, pm := range f.poolObj {
		pr := f.records[pm.key]
		if pr == nil {
			continue
		}
		first := map[string]int{}
		for i := range pr.recs {
			rec := &pr.recs[i]
			for fld := field(1); fld < numFields; fld++ {
				if rec.unread.has(fld) {
					out = append(out, Problem{Provider: pm.key, Index: i, ID: rec.id, Kind: ProblemUnreadable,
						Field: table[fld].name, Message: unreadableMessage(f.doc, rec, fld)})
				}
			}
			if j, dup := first[rec.id]; dup {
				out = append(out, Problem{Provider: pm.key, Index: i, ID: rec.id, Kind: ProblemDuplicateID, Field: "id",
					Message: fmt.Sprintf("id repeats the entry at index %d, which speaks for it; this entry is kept but not used", j)})
			} else {
				first[rec.id] = i
			}
		}
	}
	return out
}

// unreadableMessage says why field fld of rec could not be read: the
// decoder's error, found again by reading the member once more (cheaper
// than keeping every error of every parse).
func unreadableMessage(doc []byte, rec *record, fld field) string {
	spec := &table[fld]
	for _, sp := range rec.obj {
		if sp.fld != fld {
			continue
		}
		var e pool.Entry
		d := entryDecoder{e: &e, rec: &record{}, sa: &strArena{}}
		if err := spec.kind.decode(&d, sp.val(doc)); err != nil {
			return fmt.Sprintf("%s: %v; kept as written", spec.name, err)
		}
	}
	return spec.name + ": unreadable; kept as written"
}
