package authfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/credpool/credpool/pool"
)

// Parse reads an auth.json document. It accepts what Hermes and other
// writers produce (see the package tests for the tolerated forms). A known
// field it cannot read is kept as written and named in the entry's
// Unreadable; only
// data that is not JSON, or not shaped like auth.json (the top level and
// credential_pool objects, each pool an array of objects), is a
// *CorruptError, and so is empty data: a zero-length auth.json is what a
// truncating writer leaves mid-write, not an empty store. Data over
// MaxSizeLimit is ErrTooLarge. Parse keeps no reference to data.
func Parse(data []byte) (*File, error) {
	return parse(data, false)
}

// parseOwned is Parse for data that nobody modifies afterwards (what Store
// read from disk): the File and the strings of its entries share data
// instead of a copy of it.
func parseOwned(data []byte) (*File, error) {
	return parse(data, true)
}

func parse(data []byte, owned bool) (*File, error) {
	doc, base := data, 0
	if bytes.HasPrefix(doc, utf8BOM) {
		doc, base = doc[len(utf8BOM):], len(utf8BOM)
	}
	if len(doc) > maxDoc {
		return nil, fmt.Errorf("authfile: a document of %d bytes is over the %d the parser holds: %w", len(doc), maxDoc, ErrTooLarge)
	}
	off, ok, entries := validateCount(doc)
	if !ok {
		msg := "invalid JSON syntax"
		if off >= len(doc) {
			msg = "unexpected end of data (empty or truncated file)"
		}
		// The message quotes nothing of the file: it holds secrets.
		return nil, corruptAt(data, base+off, errors.New(msg))
	}
	if !owned {
		doc = bytes.Clone(doc)
	}
	// About one entry member per 40 bytes of an indented file.
	p := parser{data: data, doc: doc, base: base, arena: arena{chunk: min(len(doc)/40+8, 1<<16)},
		entries: make([]pool.Entry, 0, entries), recs: make([]record, 0, entries)}
	p.dec.sa = &p.strs
	return p.parse()
}

type parser struct {
	err   error  // the first error; parsing stops there
	data  []byte // as given, for error positions
	doc   []byte // BOM stripped, never modified
	base  int
	arena arena // members of entries
	dec   entryDecoder

	// entries and recs back the entries and records of every pool, sized
	// from validateCount: growing them entry by entry allocated several
	// times their size on a large file.
	entries []pool.Entry
	recs    []record
	strs    strArena
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return corruptAt(p.data, p.base+off, fmt.Errorf(format, args...))
}

func (p *parser) parse() (*File, error) {
	i := skipWS(p.doc, 0)
	if p.doc[i] != '{' {
		return nil, p.errAt(i, "top level is not an object")
	}
	f := &File{
		Pools:      map[string][]pool.Entry{},
		records:    map[string]*poolRecs{},
		singletons: map[string]pool.Singleton{},
		size:       len(p.doc),
		doc:        p.doc,
		bom:        p.base > 0,
	}
	// credential_pool is parsed where it stands rather than skipped and
	// split again: skipping nested values was most of the work.
	var a arena
	spans, _ := a.object(p.doc, i, func(key string, vs int) int {
		if key == keyCredentialPool && p.err == nil {
			return p.pools(f, vs)
		}
		return -1
	})
	if p.err != nil {
		return nil, p.err
	}
	f.top = members(p.doc, spans)
	if m, ok := f.top.get("providers"); ok {
		f.singletons = readSingletons(p.doc, m)
	}
	f.parsedSingletons = maps.Clone(f.singletons)
	return f, nil
}

// pools parses credential_pool at doc[i] into f and returns the index past
// it, or -1 (with p.err set, or for null) to have it skipped.
func (p *parser) pools(f *File, i int) int {
	// A repeated credential_pool key: the last one wins.
	clear(f.Pools)
	clear(f.records)
	f.poolObj = nil
	switch p.doc[i] {
	case 'n':
		return -1
	case '{':
	default:
		p.err = p.errAt(i, "credential_pool is not an object")
		return -1
	}
	var a arena
	spans, end := a.object(p.doc, i, func(provider string, vs int) int {
		if p.err != nil {
			return -1
		}
		switch p.doc[vs] {
		case 'n':
			return -1 // kept as written; not a pool
		case '[':
			return p.pool(f, provider, vs)
		}
		p.err = p.errAt(vs, "credential_pool[%q] is not an array", provider)
		return -1
	})
	f.poolObj = members(p.doc, spans)
	return end
}

// pool parses one provider's array of entries at doc[i] and returns the
// index past it, or -1 with p.err set.
func (p *parser) pool(f *File, provider string, i int) int {
	doc := p.doc
	start := len(p.entries)
	var missing []missingID
	for i = skipWS(doc, i+1); doc[i] != ']'; {
		n := len(p.entries) - start
		if doc[i] != '{' {
			p.err = p.errAt(i, "credential_pool[%q][%d] is not an object", provider, n)
			return -1
		}
		p.entries = append(p.entries, pool.Entry{})
		p.recs = append(p.recs, record{})
		e, rec := &p.entries[len(p.entries)-1], &p.recs[len(p.recs)-1]
		var end int
		rec.obj, end = p.arena.object(doc, i, nil)
		p.dec.entry(doc, e, rec)
		if e.ID == "" {
			missing = append(missing, missingID{n, doc[i:end]})
		}
		if i = skipWS(doc, end); doc[i] == ',' {
			i = skipWS(doc, i+1)
		}
	}
	end := len(p.entries)
	// Capped, so that a caller's append to one pool cannot run into the next.
	entries, recs := p.entries[start:end:end], p.recs[start:end:end]
	assignMissingIDs(provider, entries, missing)
	for n := range recs {
		recs[n].id = entries[n].ID
		if recs[n].unread.has(fID) {
			recs[n].known.ID = entries[n].ID
		}
	}
	f.Pools[provider] = entries
	f.records[provider] = &poolRecs{recs: recs}
	return i + 1
}

// missingID is an entry that had no id: its index and its bytes.
type missingID struct {
	idx int
	raw []byte
}

// assignMissingIDs gives every entry without an id one that is unique in its
// pool. The id is derived from the entry's content rather than drawn at
// random, so that every reader of the same file (the daemon, then the
// re-read inside Update) agrees on it until it is written.
func assignMissingIDs(provider string, entries []pool.Entry, missing []missingID) {
	if len(missing) == 0 {
		return
	}
	taken := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.ID != "" {
			taken[e.ID] = true
		}
	}
	for _, m := range missing {
		for n := uint32(0); ; n++ {
			h := sha256.New()
			h.Write([]byte(provider))
			h.Write([]byte{0})
			h.Write(m.raw)
			h.Write(binary.BigEndian.AppendUint32(nil, n))
			id := hex.EncodeToString(h.Sum(nil)[:3])
			if !taken[id] {
				taken[id] = true
				entries[m.idx].ID = id
				break
			}
		}
	}
}

func readSingletons(doc []byte, m member) map[string]pool.Singleton {
	out := map[string]pool.Singleton{}
	if m.val[0] != '{' {
		return out
	}
	for _, pm := range splitObject(doc, m.off) {
		if pm.val[0] != '{' {
			continue
		}
		po := splitObject(doc, pm.off)
		var t pool.Tokens
		if tm, ok := po.get("tokens"); ok && tm.val[0] == '{' {
			t = tokensOf(splitObject(doc, tm.off))
		}
		if t == (pool.Tokens{}) {
			t = tokensOf(po)
		}
		if t != (pool.Tokens{}) {
			out[pm.key] = pool.Singleton{Tokens: t}
		}
	}
	return out
}

func tokensOf(o object) pool.Tokens {
	var t pool.Tokens
	// Copied, like entries' strings (strArena): the pool keeps them.
	if m, ok := o.get("access_token"); ok {
		s, _ := str(m.val)
		t.AccessToken = strings.Clone(s)
	}
	if m, ok := o.get("refresh_token"); ok {
		s, _ := str(m.val)
		t.RefreshToken = strings.Clone(s)
	}
	return t
}
