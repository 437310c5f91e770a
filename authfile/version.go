package authfile

import (
	"crypto/sha256"
	"encoding/hex"
)

// Version names the bytes of auth.json at one moment: the SHA-256 of what
// was on disk. It is comparable; the zero Version means "no file" (an
// existing empty file has a Version like any other). It is the one answer
// to "is this still the file I read or wrote?".
type Version struct {
	sum [sha256.Size]byte
}

func versionOf(data []byte) Version { return Version{sum: sha256.Sum256(data)} }

// Exists reports whether v names a file (is not the zero Version).
func (v Version) Exists() bool { return v != Version{} }

// String is a short form for logs: the first 12 hex digits, or "none".
func (v Version) String() string {
	if !v.Exists() {
		return "none"
	}
	return hex.EncodeToString(v.sum[:6])
}
