// Package authfile is auth.json on disk, in the format the Hermes agent uses:
// parse it tolerantly, give pool its entries, write it back without losing a
// byte of what credpool does not understand, and do all of that under the
// same auth.lock flock that Hermes takes, with atomic writes.
//
// A File keeps the document as it was read (ordered raw members at every
// level that credpool re-emits), so that a rewrite changes only the values
// that changed: unknown keys, key order, and the original representation of
// every unchanged value (an ISO last_status_at, a "402" error code, a null)
// all survive.
package authfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/credpool/credpool/pool"
)

// field names a known entry field; the order is the order Hermes'
// PooledCredential.to_dict writes them in, used for new entries.
type field uint8

const (
	fNone field = iota
	fID
	fLabel
	fAuthType
	fPriority
	fSource
	fAccessToken
	fRefreshToken
	fLastStatus
	fLastStatusAt
	fLastErrorCode
	fLastErrorReason
	fLastErrorMessage
	fLastErrorResetAt
	fBaseURL
	fExpiresAt
	fExpiresAtMS
	fRequestCount
	numFields
)

var fieldNames = [numFields]string{
	fID: "id", fLabel: "label", fAuthType: "auth_type", fPriority: "priority",
	fSource: "source", fAccessToken: "access_token", fRefreshToken: "refresh_token",
	fLastStatus: "last_status", fLastStatusAt: "last_status_at",
	fLastErrorCode: "last_error_code", fLastErrorReason: "last_error_reason",
	fLastErrorMessage: "last_error_message", fLastErrorResetAt: "last_error_reset_at",
	fBaseURL: "base_url", fExpiresAt: "expires_at", fExpiresAtMS: "expires_at_ms",
	fRequestCount: "request_count",
}

var fieldOf = func() map[string]field {
	m := make(map[string]field, numFields)
	for f, n := range fieldNames {
		if n != "" {
			m[n] = field(f)
		}
	}
	return m
}()

const keyCredentialPool = "credential_pool"

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// File is one auth.json document.
type File struct {
	// Pools is credential_pool: provider → entries in file order. Callers
	// (pool.ApplyPatches) mutate it in place; Marshal writes what it holds.
	Pools map[string][]pool.Entry

	doc        []byte               // the parsed document, shared by every raw value and string
	top        object               // top-level members in file order
	poolObj    object               // credential_pool members in file order
	records    map[string]*poolRecs // provider → its entries as they were on disk
	singletons map[string]pool.Singleton
	size       int // length of the parsed document, to size Marshal's buffer
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
// known fields, so Marshal can tell which fields changed.
type record struct {
	obj         []span
	id          string     // the entry's id as parsed, assigned when missing on disk
	known       pool.Entry // ID is the on-disk id ("" when it was missing); Extra unused
	expAt       bool       // expires_at held a non-null value
	expMS       bool       // expires_at_ms held a non-null value
	expAtMillis bool       // expires_at was a number in milliseconds
	next        *record    // the next on-disk entry with the same id, if any
}

// New returns an empty document, as a fresh Hermes install would write it.
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
	}
}

// OnDisk reports whether the document was read from a file. It is false for
// New, which is what Update hands fn when there is no auth.json: a caller
// that knew the file existed can tell "vanished" from "empty".
func (f *File) OnDisk() bool { return f.doc != nil }

// Parse reads an auth.json document. It accepts what Hermes and other
// writers produce (see the package tests for the tolerated forms) and
// returns a *CorruptError for anything else, including empty data: a
// zero-length auth.json is what a truncating writer leaves mid-write, not an
// empty store. Parse keeps no reference to data.
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
		return nil, corruptAt(data, 0, errors.New("file too large"))
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
	f, err := p.parse()
	if err != nil {
		return nil, err
	}
	return f, nil
}

type parser struct {
	err   error  // the first error; parsing stops there
	data  []byte // as given, for error positions
	doc   []byte // BOM stripped, never modified
	base  int
	arena arena // members of entries

	// entries and recs back the entries and records of every pool, sized
	// from validateCount: growing them entry by entry allocated several
	// times their size on a large file.
	entries []pool.Entry
	recs    []record
	strs    strArena
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
		if sp, err := decodeEntry(doc, rec, e, &p.strs); err != nil {
			p.err = p.errAt(int(sp.v0), "credential_pool[%q][%d].%s: %w", provider, n, sp.key(doc), err)
			return -1
		}
		rec.known = *e
		rec.known.Extra = nil
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
	}
	f.Pools[provider] = entries
	f.records[provider] = &poolRecs{recs: recs}
	return i + 1
}

// decodeEntry reads rec's members into e; on error it returns the member at
// fault.
func decodeEntry(doc []byte, rec *record, e *pool.Entry, sa *strArena) (span, error) {
	var expAt, expMS float64
	text := func(raw []byte) (string, error) {
		s, err := str(raw)
		return sa.copy(s), err
	}
	for _, sp := range rec.obj {
		val := sp.val(doc)
		if sp.fld == fNone {
			if e.Extra == nil {
				e.Extra = make(map[string]json.RawMessage, 4)
			}
			e.Extra[sa.key(sp.key(doc))] = sa.bytes(val)
			continue
		}
		var err error
		switch sp.fld {
		case fID:
			e.ID, err = text(val)
		case fLabel:
			e.Label, err = text(val)
		case fAuthType:
			e.AuthType, err = text(val)
		case fSource:
			e.Source, err = text(val)
		case fAccessToken:
			e.AccessToken, err = text(val)
		case fRefreshToken:
			e.RefreshToken, err = text(val)
		case fBaseURL:
			e.BaseURL, err = text(val)
		case fLastErrorReason:
			e.LastErrorReason, err = text(val)
		case fLastErrorMessage:
			e.LastErrorMessage, err = text(val)
		case fLastStatus:
			var s string
			s, err = text(val)
			e.LastStatus = pool.Status(s)
		case fPriority:
			e.Priority, err = integer(val)
		case fRequestCount:
			e.RequestCount, err = integer(val)
		case fLastErrorCode:
			e.LastErrorCode, err = integer(val)
		case fLastStatusAt:
			e.LastStatusAt, err = epoch(val)
		case fLastErrorResetAt:
			e.LastErrorResetAt, err = epoch(val)
		case fExpiresAt:
			expAt, err = epoch(val)
			if expAt > 1e12 { // no ISO time is this far out
				// Some writers put milliseconds here (JavaScript's Date.now()).
				expAt /= 1000
				rec.expAtMillis = true
			}
			rec.expAt = expAt != 0
		case fExpiresAtMS:
			expMS, err = number(val)
			expMS /= 1000
			rec.expMS = expMS != 0
		}
		if err != nil {
			return sp, err
		}
	}
	e.ExpiresAt = expAt
	if e.ExpiresAt == 0 {
		e.ExpiresAt = expMS
	}
	return span{}, nil
}

// str reads a string or null.
func str(raw []byte) (string, error) {
	switch raw[0] {
	case 'n':
		return "", nil
	case '"':
		return decodeString(raw)
	}
	return "", errors.New("expected a string")
}

// integer reads an integral number, a numeric string, or null.
func integer(raw []byte) (int, error) {
	f, err := number(raw)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errors.New("expected an integer")
	}
	return int(f), nil
}

// number reads a number, a numeric string, or null (0).
func number(raw []byte) (float64, error) {
	s := view(raw)
	switch raw[0] {
	case 'n':
		return 0, nil
	case '"':
		var err error
		if s, err = decodeString(raw); err != nil {
			return 0, err
		}
		if s = strings.TrimSpace(s); s == "" {
			return 0, nil
		}
	case 't', 'f', '{', '[':
		return 0, errors.New("expected a number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("expected a number")
	}
	return f, nil
}

var errTime = errors.New("expected epoch seconds or an ISO-8601 time")

// epoch reads epoch seconds as a number, a numeric string, an ISO-8601
// string, or null (0).
func epoch(raw []byte) (float64, error) {
	if raw[0] == '"' {
		s, err := decodeString(raw)
		if err != nil {
			return 0, err
		}
		if s = strings.TrimSpace(s); len(s) >= 10 && s[4] == '-' {
			if t, ok := parseISO(s); ok {
				return t, nil
			}
			return 0, errTime
		}
	}
	f, err := number(raw)
	if err != nil && raw[0] == '"' {
		return 0, errTime
	}
	return f, err
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

// Snapshot returns the document for pool: Pools is f.Pools itself, so that
// pool.ApplyPatches on the snapshot changes this File.
func (f *File) Snapshot() pool.Snapshot {
	if f.Pools == nil {
		f.Pools = map[string][]pool.Entry{}
	}
	s := make(map[string]pool.Singleton, len(f.singletons))
	for k, v := range f.singletons {
		s[k] = v
	}
	return pool.Snapshot{Pools: f.Pools, Singletons: s}
}

// setUpdatedAt sets updated_at the way Hermes does on every save.
func (f *File) setUpdatedAt(t time.Time) {
	val := appendQuoted(nil, isoMicro(t.UnixMicro()))
	for i := range f.top {
		if f.top[i].key == "updated_at" {
			f.top[i].val = val
			return
		}
	}
	f.top = append(f.top, member{key: "updated_at", rawKey: []byte(`"updated_at"`), val: val})
}
