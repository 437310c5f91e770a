package authfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// writer emits JSON laid out as Python's json.dumps(indent=2): what
// credpool itself writes looks like what Hermes writes. Values read from
// the file and not changed are written as they were read, never re-laid
// out: re-indenting a deeply nested unknown value is quadratic (a 20 KB
// file nested 9,990 arrays deep became 199.6 MB).
type writer struct {
	buf bytes.Buffer

	// sink, when set, is handed what was written in pieces of about
	// sinkPiece bytes (flush), instead of buf keeping it all.
	sink func([]byte) error
}

// entryDepth is the depth of an entry's members: top level, the
// credential_pool object, a pool's array, the entry.
const entryDepth = 4

// sinkPiece is how much a writer with a sink gathers before handing it on:
// enough to make the per-piece costs (a hash and file buffer call) small.
const sinkPiece = 16 << 10

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

var errInvalidJSON = errors.New("not valid JSON")

// extra writes an Extra value: as it was on disk when v is those bytes
// (onDisk, nil for a member that was not on disk), else, since it came
// from the caller, validated (Marshal never writes broken JSON) and laid
// out for depth.
func (w *writer) extra(v, onDisk []byte, depth int) error {
	if onDisk != nil && bytes.Equal(v, onDisk) {
		w.buf.Write(onDisk)
		return nil
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return errInvalidJSON
	}
	if v[0] != '{' && v[0] != '[' {
		if !json.Valid(v) {
			return errInvalidJSON
		}
		w.buf.Write(v)
		return nil
	}
	if err := json.Indent(&w.buf, v, prefixes[depth], "  "); err != nil {
		return errInvalidJSON
	}
	return nil
}
