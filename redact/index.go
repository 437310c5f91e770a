package redact

import (
	"iter"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// index finds, at a position of a text, the longest run that begins a known
// secret. Secrets are kept sorted, so those sharing their first 8 bytes form
// one span, found through a map keyed by those bytes. Keys of real tokens are
// skewed (every sk-proj- key, every JWT from one issuer share their first 8
// bytes), so a span can hold thousands of secrets: it is binary-searched, and
// the longest common prefix with the text is that of a neighbour of the
// text's place in the sorted order.
//
// Two filters answer "no" for almost every position of a text before the
// map is asked: the gate (the first two bytes of every secret and shape,
// see skip) at every byte, then a bitset over a hash of the 8-byte key.
type index struct {
	secrets []string // sorted, distinct, each at least minSecret characters
	spans   map[uint64]span
	gate    pairTable // shapeGate and the first two bytes of every secret
	filter  []uint64  // bitset over hashKey
	shift   uint      // hashKey keeps the top 64-shift bits
}

// span is secrets[lo:hi], the secrets sharing one 8-byte key.
type span struct{ lo, hi int32 }

// The filter has 32 bits per key, so that about 1 in 32 of the positions
// the gate lets through costs a map look-up for nothing, and never fewer
// than 4096: real pools have few distinct keys (sk-proj-, eyJhbGci, …).
const (
	filterBitsPerKey = 32
	filterMinBits    = 4096
)

func newIndex(seq iter.Seq[string]) index {
	var secrets []string
	for s := range seq {
		if longEnough(s) {
			secrets = append(secrets, s)
		}
	}
	slices.Sort(secrets)
	secrets = slices.Compact(secrets)
	idx := index{secrets: secrets, spans: make(map[uint64]span), gate: shapeGate}
	for lo := 0; lo < len(secrets); {
		k := loadKey(secrets[lo], 0)
		idx.gate.add(secrets[lo])
		hi := lo + 1
		for hi < len(secrets) && loadKey(secrets[hi], 0) == k {
			hi++
		}
		idx.spans[k] = span{int32(lo), int32(hi)}
		lo = hi
	}
	nbits := max(filterMinBits, len(idx.spans)*filterBitsPerKey)
	logBits := bits.Len(uint(nbits - 1)) // round up to a power of two
	idx.shift = uint(64 - logBits)
	idx.filter = make([]uint64, (1<<logBits)/64)
	for k := range idx.spans {
		h := hashKey(k, idx.shift)
		idx.filter[h>>6] |= 1 << (h & 63)
	}
	return idx
}

func (x *index) len() int { return len(x.secrets) }

// hashKey is a multiplicative (Fibonacci) hash: the top 64-shift bits of
// key times 2^64/φ, which spread keys that differ in any byte.
func hashKey(key uint64, shift uint) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> shift
}

// match returns the end of the longest run at s[i:] that begins a known
// secret (i when none is 8 characters long) and whether that run is a whole
// secret. key is loadKey(s, i).
func (x *index) match(s string, i int, key uint64) (end int, whole bool) {
	if h := hashKey(key, x.shift); x.filter[h>>6]&(1<<(h&63)) == 0 {
		return i, false
	}
	sp, ok := x.spans[key]
	if !ok {
		return i, false
	}
	group := x.secrets[sp.lo:sp.hi]
	q := s[i:]
	j, _ := slices.BinarySearch(group, q)
	n := 0
	if j > 0 {
		n = commonPrefix(q, group[j-1])
	}
	if j < len(group) {
		n = max(n, commonPrefix(q, group[j]))
	}
	// A whole secret q[:n] need not be a neighbour (a longer secret it
	// begins sorts between them), so it is looked up.
	_, whole = slices.BinarySearch(group, q[:n])
	end = i + n
	// Text and secret may part in the middle of a character; the span then
	// takes the whole character so that no broken UTF-8 is left behind.
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
		whole = false
	}
	// 8 bytes are 8 characters unless some are not ASCII: a prefix counts
	// from 8 characters on, like a secret.
	if key&0x8080808080808080 != 0 && !longEnough(s[i:end]) {
		return i, false
	}
	return end, whole
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// loadKey reads s[i:i+8] as a little-endian word.
func loadKey(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
