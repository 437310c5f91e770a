package authfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/credpool/credpool/pool"
)

// Marshal writes the document as Hermes' json.dump(indent=2) does, with a
// trailing newline. Values credpool did not change are written as they were
// read; an Extra value that is not valid JSON is an error.
func (f *File) Marshal() ([]byte, error) {
	w := &writer{}
	w.buf.Grow(f.size + f.size/8 + 256)
	if err := f.write(w); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// marshalTo writes the document to out as Marshal does, in pieces, each
// also given to h and compared with the document as it was parsed; it
// reports whether they differ. Only a few pieces are in memory at once,
// where Marshal holds the whole output.
func (f *File) marshalTo(out io.Writer, h hash.Hash) (differs bool, err error) {
	c := f.compareParsed()
	defer c.stop()
	w := &writer{sink: func(b []byte) error {
		h.Write(b)
		c.feed(b)
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("authfile: write: %w", err)
		}
		return nil
	}}
	if err := f.write(w); err != nil {
		return false, err
	}
	return !c.same(), nil
}

// parsedCmp compares bytes fed to it with the document as it was parsed,
// rendered on demand as a coroutine (iter.Pull) that is only ever a piece
// ahead, so the comparison needs no copy of either rendering.
type parsedCmp struct {
	next    func() ([]byte, bool)
	stop    func()
	pend    []byte // the rest of the last piece pulled; valid until next
	err     error  // of the parsed rendering
	differs bool
}

func (f *File) compareParsed() *parsedCmp {
	c := &parsedCmp{}
	c.next, c.stop = iter.Pull(func(yield func([]byte) bool) {
		w := &writer{pristine: true, sink: func(b []byte) error {
			if !yield(b) {
				return errDiffers // the comparison is over
			}
			return nil
		}}
		c.err = f.write(w)
	})
	return c
}

// feed compares b with the next bytes of the parsed rendering.
func (c *parsedCmp) feed(b []byte) {
	for len(b) > 0 && !c.differs {
		if len(c.pend) == 0 {
			p, ok := c.next()
			if !ok {
				c.differs = true // the parsed rendering is shorter
				break
			}
			c.pend = p
			continue
		}
		n := min(len(b), len(c.pend))
		if !bytes.Equal(b[:n], c.pend[:n]) {
			c.differs = true
			break
		}
		b, c.pend = b[n:], c.pend[n:]
	}
	if c.differs {
		c.stop()
	}
}

// same ends the comparison: it reports whether everything fed matched the
// whole parsed rendering.
func (c *parsedCmp) same() bool {
	defer c.stop()
	for !c.differs && len(c.pend) == 0 {
		p, ok := c.next()
		if !ok {
			return c.err == nil
		}
		c.pend = p
	}
	return false
}

// write renders the document into w: the current one, or with w.pristine
// the one that was parsed.
func (f *File) write(w *writer) error {
	w.buf.WriteByte('{')
	n := 0
	sawPools := false
	for _, m := range f.top {
		if m.key == keyCredentialPool {
			sawPools = true
			if f.poolCount(w) == 0 && m.val[0] == 'n' {
				w.member(&n, 1, m.rawKey)
				w.buf.WriteString("null")
				continue
			}
			w.member(&n, 1, m.rawKey)
			if err := f.writePools(w); err != nil {
				return err
			}
			continue
		}
		w.member(&n, 1, m.rawKey)
		if err := w.raw(m.val, 1, false); err != nil {
			return fmt.Errorf("authfile: top-level %q: %w", m.key, err)
		}
	}
	if !sawPools && f.poolCount(w) > 0 {
		w.member(&n, 1, []byte(`"credential_pool"`))
		if err := f.writePools(w); err != nil {
			return err
		}
	}
	w.close(n, 0, '}')
	w.buf.WriteByte('\n')
	return w.flush(true)
}

func (f *File) poolCount(w *writer) int {
	if w.pristine {
		return len(f.records)
	}
	return len(f.Pools)
}

// hasPool says whether provider is a pool of the document being written.
func (f *File) hasPool(w *writer, provider string) bool {
	if w.pristine {
		_, ok := f.records[provider]
		return ok
	}
	_, ok := f.Pools[provider]
	return ok
}

func (f *File) writePools(w *writer) error {
	w.buf.WriteByte('{')
	n := 0
	for _, pm := range f.poolObj {
		if !f.hasPool(w, pm.key) {
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
	if w.pristine {
		for k := range f.records {
			if !onDisk(k) {
				added = append(added, k)
			}
		}
	} else {
		for k := range f.Pools {
			if !onDisk(k) {
				added = append(added, k)
			}
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
	if w.pristine {
		for i := range pr.recs {
			rec := &pr.recs[i]
			e := rec.known
			e.ID = rec.id
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.newline(3)
			if err := w.entry(f.doc, &e, rec); err != nil {
				return err
			}
			if err := w.flush(false); err != nil {
				return err
			}
		}
		w.close(len(pr.recs), 2, ']')
		return nil
	}
	entries := f.Pools[provider]
	// The usual write keeps every entry in its place: then entry i is
	// record i, and no index by id is needed.
	inPlace := pr != nil && len(pr.recs) == len(entries)
	for i := 0; inPlace && i < len(entries); i++ {
		inPlace = entries[i].ID == pr.recs[i].id
	}
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
		w.newline(3)
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

// changed reports whether fn may have changed the document since it was
// parsed: a pool added or removed, an entry added, removed or moved, a known
// field or an unknown one with another value. False means Marshal would
// write what it wrote before, without marshalling anything; true is checked
// against the bytes as they are written, since a changed value can still be
// written the same way.
func (f *File) changed() bool {
	if len(f.Pools) != len(f.records) {
		return true
	}
	for provider, pr := range f.records {
		entries, ok := f.Pools[provider]
		if !ok || len(entries) != len(pr.recs) {
			return true
		}
		for i := range entries {
			if !pr.recs[i].holds(f.doc, &entries[i]) {
				return true
			}
		}
	}
	return false
}

// holds reports whether e is the entry r was parsed into, unchanged.
func (r *record) holds(doc []byte, e *pool.Entry) bool {
	if e.ID != r.id {
		return false
	}
	for fld := fID + 1; fld < numFields; fld++ {
		if !same(fld, e, &r.known) {
			return false
		}
	}
	n := 0
	for _, sp := range r.obj {
		if sp.fld != fNone {
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

// entry writes an entry that was on disk: its members in their order, each
// unchanged value as it was, then fields that are new to it.
func (w *writer) entry(doc []byte, e *pool.Entry, rec *record) error {
	w.buf.WriteByte('{')
	n := 0
	var seen [numFields]bool
	extraSeen := 0
	for _, sp := range rec.obj {
		fld := sp.fld
		seen[fld] = true
		val := sp.val(doc)
		switch {
		case fld == fNone:
			key := sp.key(doc)
			v, ok := e.Extra[key]
			if w.pristine {
				v, ok = val, true
			}
			if !ok {
				continue // the caller deleted it
			}
			extraSeen++
			w.member(&n, 4, sp.rawKey(doc))
			if err := w.raw(v, 4, true); err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
		case fld == fExpiresAt || fld == fExpiresAtMS:
			w.member(&n, 4, sp.rawKey(doc))
			if e.ExpiresAt == rec.known.ExpiresAt || !rec.carriesExpiry(fld) {
				w.buf.Write(val)
				continue
			}
			form := formISO
			switch {
			case fld == fExpiresAtMS || rec.expAtMillis:
				form = formMillis
			case val[0] != 'n' && val[0] != '"':
				form = formSeconds
			}
			w.expiry(e.ExpiresAt, form)
		default:
			w.member(&n, 4, sp.rawKey(doc))
			if same(fld, e, &rec.known) {
				if err := w.raw(val, 4, false); err != nil {
					return err
				}
				continue
			}
			w.value(fld, e)
		}
	}
	for fld := fID; fld < numFields; fld++ {
		if seen[fld] || fld == fExpiresAtMS || same(fld, e, &rec.known) {
			continue
		}
		if fld == fExpiresAt {
			if seen[fExpiresAtMS] {
				continue
			}
			w.member(&n, 4, []byte(`"expires_at"`))
			w.expiry(e.ExpiresAt, formISO)
			continue
		}
		w.member(&n, 4, appendQuoted(nil, fieldNames[fld]))
		w.value(fld, e)
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
	w.close(n, 3, '}')
	return nil
}

// carriesExpiry says whether member fld of the on-disk entry is one to
// update when the expiry changes: the members that held it, or, when none
// did, expires_at (or expires_at_ms if that is the only one there).
func (r *record) carriesExpiry(fld field) bool {
	if r.expAt || r.expMS {
		return (fld == fExpiresAt && r.expAt) || (fld == fExpiresAtMS && r.expMS)
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

// newEntry writes an entry that was not on disk, with the fields Hermes
// writes: the six status fields always (null when clear), the optional ones
// only when set.
func (w *writer) newEntry(e *pool.Entry) error {
	w.buf.WriteByte('{')
	n := 0
	for fld := fID; fld < numFields; fld++ {
		switch fld {
		case fExpiresAtMS:
			continue
		case fRefreshToken, fBaseURL, fExpiresAt:
			if same(fld, e, &pool.Entry{}) {
				continue
			}
		}
		w.member(&n, 4, appendQuoted(nil, fieldNames[fld]))
		if fld == fExpiresAt {
			w.expiry(e.ExpiresAt, formISO)
		} else {
			w.value(fld, e)
		}
	}
	if err := w.newExtra(&n, e, func(string) bool { return false }); err != nil {
		return err
	}
	w.close(n, 3, '}')
	return nil
}

// newExtra writes the Extra fields that are not among the on-disk members,
// sorted, since a map has no order of its own.
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
		w.member(n, 4, appendQuoted(nil, k))
		if err := w.raw(e.Extra[k], 4, true); err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	return nil
}

// same reports whether known field fld has the same value in a and b.
func same(fld field, a, b *pool.Entry) bool {
	switch fld {
	case fID:
		return a.ID == b.ID
	case fLabel:
		return a.Label == b.Label
	case fAuthType:
		return a.AuthType == b.AuthType
	case fPriority:
		return a.Priority == b.Priority
	case fSource:
		return a.Source == b.Source
	case fAccessToken:
		return a.AccessToken == b.AccessToken
	case fRefreshToken:
		return a.RefreshToken == b.RefreshToken
	case fLastStatus:
		return a.LastStatus == b.LastStatus
	case fLastStatusAt:
		return a.LastStatusAt == b.LastStatusAt
	case fLastErrorCode:
		return a.LastErrorCode == b.LastErrorCode
	case fLastErrorReason:
		return a.LastErrorReason == b.LastErrorReason
	case fLastErrorMessage:
		return a.LastErrorMessage == b.LastErrorMessage
	case fLastErrorResetAt:
		return a.LastErrorResetAt == b.LastErrorResetAt
	case fBaseURL:
		return a.BaseURL == b.BaseURL
	case fExpiresAt, fExpiresAtMS:
		return a.ExpiresAt == b.ExpiresAt
	case fRequestCount:
		return a.RequestCount == b.RequestCount
	}
	return true
}

// value writes the current value of a known field: numbers as JSON numbers,
// and the zero value of a nullable field as null.
func (w *writer) value(fld field, e *pool.Entry) {
	b := w.buf.AvailableBuffer()
	nullStr := func(s string) []byte {
		if s == "" {
			return append(b, "null"...)
		}
		return appendQuoted(b, s)
	}
	nullTime := func(t float64) []byte {
		if t == 0 {
			return append(b, "null"...)
		}
		return appendFloat(b, t)
	}
	switch fld {
	case fID:
		b = appendQuoted(b, e.ID)
	case fLabel:
		b = appendQuoted(b, e.Label)
	case fAuthType:
		b = appendQuoted(b, e.AuthType)
	case fSource:
		b = appendQuoted(b, e.Source)
	case fAccessToken:
		b = appendQuoted(b, e.AccessToken)
	case fRefreshToken:
		b = nullStr(e.RefreshToken)
	case fBaseURL:
		b = nullStr(e.BaseURL)
	case fLastStatus:
		b = nullStr(string(e.LastStatus))
	case fLastErrorReason:
		b = nullStr(e.LastErrorReason)
	case fLastErrorMessage:
		b = nullStr(e.LastErrorMessage)
	case fPriority:
		b = strconv.AppendInt(b, int64(e.Priority), 10)
	case fRequestCount:
		b = strconv.AppendInt(b, int64(e.RequestCount), 10)
	case fLastErrorCode:
		if e.LastErrorCode == 0 {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, int64(e.LastErrorCode), 10)
		}
	case fLastStatusAt:
		b = nullTime(e.LastStatusAt)
	case fLastErrorResetAt:
		b = nullTime(e.LastErrorResetAt)
	}
	w.buf.Write(b)
}

// expiryForm is how an expiry is written: as it was on disk, so that the
// tool that wrote it can still read it; ISO text is Hermes' type for
// expires_at, and the form for an expiry that had none.
type expiryForm uint8

const (
	formISO expiryForm = iota
	formSeconds
	formMillis
)

func (w *writer) expiry(sec float64, form expiryForm) {
	b := w.buf.AvailableBuffer()
	switch {
	case sec == 0 || math.IsNaN(sec) || math.IsInf(sec, 0):
		b = append(b, "null"...)
	case form == formMillis:
		b = strconv.AppendInt(b, int64(math.Round(sec*1000)), 10)
	case form == formSeconds:
		b = strconv.AppendFloat(b, sec, 'f', -1, 64)
	default:
		b = appendQuoted(b, isoTime(sec))
	}
	w.buf.Write(b)
}

// writer emits JSON laid out as Python's json.dump(indent=2).
type writer struct {
	buf bytes.Buffer

	// pristine writes the document as parsed, ignoring the caller's changes.
	pristine bool
	// sink, when set, is handed what was written in pieces of about
	// sinkPiece bytes (flush), instead of buf keeping it all.
	sink func([]byte) error
}

// sinkPiece is how much a writer with a sink gathers before handing it on:
// enough to make the per-piece costs (a coroutine switch, a hash and file
// buffer call) small, little enough to stop a comparison soon after a
// difference.
const sinkPiece = 16 << 10

// errDiffers stops a comparing render at the first difference.
var errDiffers = errors.New("authfile: rendering differs")

// flush hands what was written since the last flush to the sink, once
// there is a piece of it or, with all, whatever there is. Without a sink
// it does nothing.
func (w *writer) flush(all bool) error {
	if w.sink == nil || w.buf.Len() == 0 || (!all && w.buf.Len() < sinkPiece) {
		return nil
	}
	err := w.sink(w.buf.Bytes())
	w.buf.Reset()
	return err
}

// prefixes[d] is the indentation of depth d.
var prefixes = func() [8]string {
	var p [8]string
	for d := range p {
		p[d] = strings.Repeat("  ", d)
	}
	return p
}()

func (w *writer) newline(depth int) {
	w.buf.WriteByte('\n')
	w.buf.WriteString(prefixes[depth])
}

// member starts the next member of an object whose members sit at depth.
func (w *writer) member(n *int, depth int, rawKey []byte) {
	if *n > 0 {
		w.buf.WriteByte(',')
	}
	*n++
	w.newline(depth)
	w.buf.Write(rawKey)
	w.buf.WriteString(": ")
}

// close ends an object or array that had n members; its brackets sit at
// depth. An empty one is written "{}" or "[]", as Python does.
func (w *writer) close(n, depth int, c byte) {
	if n > 0 {
		w.newline(depth)
	}
	w.buf.WriteByte(c)
}

// raw writes a raw JSON value laid out for depth. Values from outside the
// parser (check) are validated first, so Marshal never writes broken JSON.
func (w *writer) raw(v []byte, depth int, check bool) error {
	if check {
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			return fmt.Errorf("not valid JSON")
		}
	}
	if v[0] != '{' && v[0] != '[' {
		if check && !json.Valid(v) {
			return fmt.Errorf("not valid JSON")
		}
		w.buf.Write(v)
		return nil
	}
	if err := json.Indent(&w.buf, v, prefixes[depth], "  "); err != nil {
		return fmt.Errorf("not valid JSON")
	}
	return nil
}
