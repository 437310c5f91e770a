package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// tokenAlphabet is what tokens are made of: base64url, base64 and token68
// characters. It has no '[' or ']' (see the package comment).
const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/="

// FuzzRedact inserts, between random texts, a prefix (or all) of a secret the
// fuzzer chooses byte by byte (so it can be degenerate: AAAAAAAA…), then a
// prefix (or all) of a random secret that may have a vendor prefix, with a
// third secret sharing that one's start. The output must hold no 8-byte
// run that begins any of them, no 8 bytes of the inserted random secret that
// the text around it did not hold already, and no token shape; redacting it
// again must change nothing.
func FuzzRedact(f *testing.F) {
	f.Add("Incorrect API key provided: ", ". You can find your API key at https://platform.openai.com.", []byte("oauthSECRETa1b2c3d4"), uint64(1), uint16(0), uint16(0))
	f.Add("", "", []byte("AAAAAAAAAAAA"), uint64(2), uint16(3), uint16(9))
	f.Add("sk-proj-", "sk-", []byte("ABCDEFGHABCDEFGH"), uint64(3), uint16(1), uint16(1))
	f.Add("Bearer ", "…", []byte("12345678"), uint64(4), uint16(0), uint16(70))
	f.Add("ключ «", "» недействителен", []byte("xyzxyzxyzxyz"), uint64(5), uint16(2), uint16(5))
	f.Add("eyJhbGciOiJSUzI1NiJ9.", ".sig", []byte("eyJhbGciOiJSUzI1NiJ9"), uint64(6), uint16(7), uint16(0))
	f.Fuzz(func(t *testing.T, before, after string, raw []byte, seed uint64, cutA, cutB uint16) {
		a := fromBytes(raw)
		b, c := randomSecrets(seed)
		pre := before + cut(a, cutA)
		text := pre + cut(b, cutB) + after
		r := New(a, b, c)
		out := r.String(text)

		for _, s := range []string{a, b, c} {
			if len(s) < minSecret || s[:minSecret] == "redacted" {
				continue // a secret that begins like Redacted would be found in it
			}
			if strings.Contains(out, s[:minSecret]) {
				t.Fatalf("%q\n-> %q\nholds the first 8 bytes of secret %q", text, out, s)
			}
		}
		for k := 0; k+minSecret <= len(b); k++ {
			w := b[k : k+minSecret]
			if strings.Contains(out, w) && !strings.Contains(pre, w) && !strings.Contains(after, w) {
				t.Fatalf("%q\n-> %q\nholds %q of the inserted secret %q", text, out, w, b)
			}
		}
		if again := r.String(out); again != out {
			t.Fatalf("not idempotent:\n%q\n-> %q\n-> %q", text, out, again)
		}
		if Text(out) != out {
			t.Fatalf("a token shape is left in %q", out)
		}
		if once := Text(text); Text(once) != once {
			t.Fatalf("Text not idempotent: %q -> %q -> %q", text, once, Text(once))
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 %q came out broken: %q", text, out)
		}
	})
}

// fromBytes maps each byte to tokenAlphabet, so that the fuzzer builds a
// secret of any pattern; at most 200 bytes long.
func fromBytes(raw []byte) string {
	raw = raw[:min(len(raw), 200)]
	b := make([]byte, len(raw))
	for i, c := range raw {
		b[i] = tokenAlphabet[int(c)%len(tokenAlphabet)]
	}
	return string(b)
}

// vendorPrefixes make the random secret token-shaped sometimes, so that the
// index and the shapes meet on one span.
var vendorPrefixes = []string{"", "sk-proj-", "sk-ant-oat01-", "xai-", "eyJhbGciOiJSUzI1NiJ9.", "ghp_", "oauth"}

// randomSecrets returns a random secret of 16 to 80 characters and another
// that shares its first 8 to 15 bytes.
func randomSecrets(seed uint64) (string, string) {
	rng := rand.New(rand.NewPCG(seed, 0x5ec2e7))
	p := vendorPrefixes[rng.IntN(len(vendorPrefixes))]
	b := p + randomToken(rng, 16+rng.IntN(65))
	c := b[:8+rng.IntN(8)] + randomToken(rng, 8+rng.IntN(40))
	return b, c
}

func randomToken(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenAlphabet[rng.IntN(len(tokenAlphabet))]
	}
	return string(b)
}

// cut returns s whole or its first k ≥ 8 bytes, k chosen by n; s itself
// when shorter than 8.
func cut(s string, n uint16) string {
	if len(s) < minSecret {
		return s
	}
	return s[:minSecret+int(n)%(len(s)-minSecret+1)]
}
