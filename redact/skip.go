package redact

// pairTable is a set of two-byte pairs: one bit for each of the 65,536.
// Every byte of a text pays for one look-up (scan's skip), and only where
// the pair at it is in the table is anything else done. 8 KiB: it stays in
// the first-level cache.
type pairTable [1 << 16 / 64]uint64

// add puts the first two bytes of p in t.
func (t *pairTable) add(p string) {
	k := pairAt(p, 0)
	t[k>>6] |= 1 << (k & 63)
}

// has reports whether the pair at s[i] (i+1 < len(s)) is in t.
func (t *pairTable) has(s string, i int) bool {
	k := pairAt(s, i)
	return t[k>>6]&(1<<(k&63)) != 0
}

func pairAt(s string, i int) uint16 { return uint16(s[i]) | uint16(s[i+1])<<8 }

// skip returns the first position from i on where the pair is in gate or
// which is bearerAt (a token after "Bearer " may start there), or len(s)
// when there is none: nothing starts at the last byte, since every shape
// and secret has at least two.
func skip(s string, i int, gate *pairTable, bearerAt int) int {
	stop := len(s) - 1
	if bearerAt >= i && bearerAt < stop {
		stop = bearerAt
	}
	if i < stop {
		// The pair is rolled along, one byte read per step, over a slice
		// the compiler can see the end of (no bounds checks in the loop).
		t := s[i : stop+1]
		k := uint16(t[0])
		for j := 1; j < len(t); j++ {
			k |= uint16(t[j]) << 8
			if gate[k>>6]&(1<<(k&63)) != 0 {
				return i + j - 1
			}
			k >>= 8
		}
		i = stop
	}
	if i >= len(s)-1 {
		return len(s)
	}
	return i // bearerAt
}
