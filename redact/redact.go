// Package redact takes secrets out of free text that anyone may have written:
// providers, proxies and other tools put keys into error reasons and messages
// ("Incorrect API key provided: sk-proj-…"), and credpool shows those in
// status lines, logs and events.
//
// A Redactor knows the pool's secrets. It replaces a whole known secret by
// "…" and its last 4 characters (the hint status shows for a token, so it
// reveals nothing new), and any other run of 8 or more characters that
// begins a known secret (a key quoted cut short) by "[redacted]". Strings
// shaped like a token (sk-…, xai-…, AIza…, ghp_…, JWTs, Bearer values) are
// replaced by "[redacted]" even when no secret is known; every shape but
// the JWT must begin a word, so that the sk- of risk-assessment is no key.
//
// A text is scanned once, whatever the number of secrets: the secrets are
// indexed by their first 8 bytes.
//
// Guarantees, for secrets made of printable ASCII other than '[' and ']'
// (every token format we know) and that do not begin with "redacted": the
// output holds no run of 8 or more characters that begins a known secret
// and no token-shaped string, and redacting it again changes nothing.
// Fragments from the middle or end of a secret that never show its first 8
// characters are not looked for (they are what a masked key such as sk-…abcd
// shows, and indexing every window of 10,000 secrets would cost far more
// than it finds).
package redact

import (
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a secret's prefix or a token-shaped string.
const Redacted = "[redacted]"

// hintMark comes before the last 4 characters that stand for a whole secret.
const hintMark = "…"

// minSecret is the shortest secret, and the shortest prefix of one, that is
// redacted: anything shorter would match ordinary words.
const minSecret = 8

// Redactor redacts known secrets and token shapes. It is immutable and safe
// for concurrent use. A nil *Redactor knows no secret and redacts shapes only.
type Redactor struct {
	idx index
}

// New returns a Redactor for secrets. Secrets shorter than 8 characters are
// ignored; duplicates and empty strings are fine.
func New(secrets ...string) *Redactor {
	return FromSeq(slices.Values(secrets))
}

// FromSeq is New for secrets the caller yields one by one (every access and
// refresh token of a pool), without building a slice first.
func FromSeq(secrets iter.Seq[string]) *Redactor {
	return &Redactor{idx: newIndex(secrets)}
}

// String returns s with every known secret, every prefix of one and every
// token-shaped string replaced. When there is nothing to replace it returns
// s itself and allocates nothing.
func (r *Redactor) String(s string) string {
	var idx *index
	if r != nil {
		idx = &r.idx
	}
	out, changed := scan(s, idx)
	if !changed {
		return out
	}
	// A replacement can put a word boundary where there was none
	// ("…abcd" or "[redacted]" before the rest of a glued token), so shapes
	// are looked for once more in what came out.
	out, _ = scan(out, nil)
	return out
}

// Text redacts token-shaped strings only, for callers that know no secret.
func Text(s string) string {
	out, _ := scan(s, nil)
	return out
}

// Hint is the last 4 characters of a secret, what status shows for a token,
// or "" for a secret shorter than 8 characters (the hint would give half of
// it away).
func Hint(secret string) string {
	if !longEnough(secret) {
		return ""
	}
	i := len(secret)
	for range 4 {
		_, size := utf8.DecodeLastRuneInString(secret[:i])
		i -= size
	}
	return secret[i:]
}

// longEnough reports whether s has at least minSecret characters; without
// counting them when it has enough bytes that they must be (a token is
// often a kilobyte long).
func longEnough(s string) bool {
	return len(s) >= utf8.UTFMax*minSecret || utf8.RuneCountInString(s) >= minSecret
}

// scan finds, at every byte of s, the longest known-secret match and the
// token shape that start there, merges overlapping spans and replaces each
// merged span. A span that is exactly one whole known secret gets its hint;
// any other gets Redacted. Overlaps are merged (not skipped) so that a
// secret starting inside another match cannot leave its tail behind.
func scan(s string, idx *index) (string, bool) {
	var b strings.Builder
	copied := 0                  // s[:copied] is in b
	open := false                // a span [start, end) is being merged
	start, end := 0, 0           // the open span
	whole := false               // the open span is exactly one whole known secret
	gate, last := &shapeGate, -1 // last: the last position a known secret can start at
	if idx != nil && idx.len() > 0 {
		gate, last = &idx.gate, len(s)-minSecret
	}
	shapes := newShapeScanner(s)
	for i := skip(s, 0, gate, shapes.bearerAt); i < len(s); i = skip(s, i+1, gate, shapes.bearerAt) {
		e, w := i, false
		if i <= last {
			e, w = idx.match(s, i, loadKey(s, i))
		}
		if i == shapes.bearerAt || shapeGate.has(s, i) {
			if se := shapes.shapeEnd(i, open && i == end); se > e {
				e, w = se, false
			}
		}
		if e <= i {
			continue
		}
		if open && i < end {
			if e > end {
				end, whole = e, false
			}
			continue
		}
		if open {
			copied = flush(&b, s, copied, start, end, whole)
		}
		open, start, end, whole = true, i, e, w
	}
	if !open {
		return s, false
	}
	copied = flush(&b, s, copied, start, end, whole)
	b.WriteString(s[copied:])
	return b.String(), true
}

// flush writes s[copied:start] and the replacement of s[start:end] to b and
// returns end, the new copied mark.
func flush(b *strings.Builder, s string, copied, start, end int, whole bool) int {
	if b.Len() == 0 && copied == 0 {
		b.Grow(len(s))
	}
	b.WriteString(s[copied:start])
	if whole {
		b.WriteString(hintMark)
		b.WriteString(Hint(s[start:end]))
	} else {
		b.WriteString(Redacted)
	}
	return end
}
