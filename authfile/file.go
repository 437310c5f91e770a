// Package authfile is auth.json on disk, in the format the Hermes agent uses:
// parse it tolerantly, give pool its entries, write it back without losing a
// byte of what credpool does not understand, and do all of that under the
// same auth.lock flock that Hermes takes, with atomic writes.
//
// A File keeps the document as it was read (ordered raw members at every
// level that credpool re-emits), so that a rewrite changes only the values
// that changed: unknown keys, key order, and the bytes of every value
// credpool did not change (an ISO last_status_at, a "402" error code, a
// null, an unknown value however it is laid out) all survive. A known
// field whose value cannot be read is kept the same way, and named in the
// entry's Unreadable (pool reports it), rather than making the whole file
// unwritable.
package authfile

import (
	"crypto/sha256"
	"time"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/pool"
)

const keyCredentialPool = "credential_pool"

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// File is one auth.json document.
type File struct {
	// Pools is credential_pool: provider → entries in file order. Callers
	// (pool.Sync, through Snapshot) mutate it in place; Marshal writes what
	// it holds.
	Pools map[string][]pool.Entry

	doc        []byte               // the parsed document, shared by every raw value and string
	bom        bool                 // the data began with a UTF-8 BOM (not in doc)
	top        object               // top-level members in file order
	poolObj    object               // credential_pool members in file order
	records    map[string]*poolRecs // provider → its entries as they were on disk
	singletons map[string]pool.Singleton
	// parsedSingletons are the singletons as read, to tell a change.
	parsedSingletons map[string]pool.Singleton
	size             int // length of the parsed document, to size Marshal's buffer

	version  Version
	versionK bool // version is known (set by Store, or hashed on demand)
}

// poolRecs is one provider's entries as they were on disk, in file order.
type poolRecs struct {
	recs []record
	// byID finds a record by id when the caller reordered, added or removed
	// entries; built on first need, since the usual write changes none.
	byID map[string]*record
}

// lookup returns the first record with id (chained by next when ids repeat).
func (p *poolRecs) lookup(id string) *record {
	if p.byID == nil {
		p.byID = make(map[string]*record, len(p.recs))
		for i := len(p.recs) - 1; i >= 0; i-- {
			r := &p.recs[i]
			r.next = p.byID[r.id]
			p.byID[r.id] = r
		}
	}
	return p.byID[id]
}

// record is an entry as it was on disk: its members, and the values of its
// known fields, so that Marshal and changed can tell which fields changed.
type record struct {
	obj []span
	id  string // the entry's id as parsed, assigned when missing on disk
	// known is the entry as parsed. ID is the on-disk id, "" when it was
	// missing (so that the assigned one is written), the assigned one when
	// it was unreadable (so that the kept bytes stay). Unreadable and the
	// maps are copies; Extra is unused (the spans hold it).
	known       pool.Entry
	unread      fieldSet // known fields whose value could not be read
	expAt       bool     // expires_at held a time
	expMS       bool     // expires_at_ms held a time
	expAtMillis bool     // expires_at was a number in milliseconds
	next        *record  // the next on-disk entry with the same id, if any
}

// carriesExpiry says whether member fld of the on-disk entry is one to
// update when the expiry changes: the members that held it or could not be
// read, or, when there are none, expires_at (or expires_at_ms if that is
// the only one there).
func (r *record) carriesExpiry(fld field) bool {
	held := func(f field) bool {
		return r.unread.has(f) || (f == fExpiresAt && r.expAt) || (f == fExpiresAtMS && r.expMS)
	}
	if r.expAt || r.expMS || r.unread.has(fExpiresAt) || r.unread.has(fExpiresAtMS) {
		return held(fld)
	}
	if fld == fExpiresAt {
		return true
	}
	for _, sp := range r.obj {
		if sp.fld == fExpiresAt {
			return false
		}
	}
	return true
}

// New returns an empty document, as a fresh Hermes install would write it.
// Its Version is the zero Version: there is no file.
func New() *File {
	return &File{
		Pools: map[string][]pool.Entry{},
		top: object{
			{key: "version", rawKey: []byte(`"version"`), val: []byte("1")},
			{key: "providers", rawKey: []byte(`"providers"`), val: []byte("{}")},
			{key: keyCredentialPool, rawKey: []byte(`"credential_pool"`), val: []byte("{}")},
		},
		records:    map[string]*poolRecs{},
		singletons: map[string]pool.Singleton{},
		versionK:   true,
	}
}

// Version is the version of the bytes the document was parsed from; the
// zero Version for New, which is what Update hands fn when there is no
// auth.json, so that a caller that knew the file existed can tell
// "vanished" from "empty".
func (f *File) Version() Version {
	if !f.versionK {
		h := sha256.New()
		if f.bom {
			h.Write(utf8BOM)
		}
		h.Write(f.doc)
		h.Sum(f.version.sum[:0])
		f.versionK = true
	}
	return f.version
}

// Snapshot returns the document for pool: Pools and Singletons are the
// File's own, so that pool.Sync on the snapshot changes this File. Only
// the tokens of singletons that exist on disk are written back.
func (f *File) Snapshot() pool.Snapshot {
	if f.Pools == nil {
		f.Pools = map[string][]pool.Entry{}
	}
	if f.singletons == nil {
		f.singletons = map[string]pool.Singleton{}
	}
	return pool.Snapshot{Pools: f.Pools, Singletons: f.singletons}
}

// setUpdatedAt sets updated_at the way Hermes does on every save.
func (f *File) setUpdatedAt(t time.Time) {
	val := appendQuoted(nil, epoch.ISOMicro(t.UnixMicro()))
	for i := range f.top {
		if f.top[i].key == "updated_at" {
			f.top[i].val = val
			return
		}
	}
	f.top = append(f.top, member{key: "updated_at", rawKey: []byte(`"updated_at"`), val: val})
}
