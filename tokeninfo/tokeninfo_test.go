package tokeninfo

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func jwt(payload string) string {
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at, ms float64
		token  string
		want   float64
		ok     bool
	}{
		{"expires_at wins", 1780000000, 1790000000000, jwt(`{"exp":1800000000}`), 1780000000, true},
		{"expires_at_ms next", 0, 1790000000000, jwt(`{"exp":1800000000}`), 1790000000, true},
		{"the JWT's exp last", 0, 0, jwt(`{"exp":1800000000}`), 1800000000, true},
		{"no expiry", 0, 0, "sk-plain-api-key", 0, false},
		{"exp as a string is no exp", 0, 0, jwt(`{"exp":"1800000000"}`), 0, false},
		{"exp past 9999", 0, 0, jwt(`{"exp":1e13}`), 0, false},
		{"garbage payload", 0, 0, "a.!!!.c", 0, false},
		{"a huge payload is not decoded", 0, 0, jwt(`{"exp":1800000000,"x":"` + strings.Repeat("a", 70<<10) + `"}`), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Expiry(tc.at, tc.ms, tc.token)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// The fingerprint is Hermes' formula: hashlib.sha256(secret).hexdigest()[:16].
func TestFingerprintIsHermes(t *testing.T) {
	assert.Equal(t, "sha256:f25f262b75cd47e7", Fingerprint("sk-test-fingerprint"))
}

func TestFingerprintValues(t *testing.T) {
	// SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	assert.Equal(t, "sha256:ba7816bf8f01cfea", Fingerprint("abc"))
	assert.Equal(t, "sha256:e3b0c44298fc1c14", Fingerprint(""))
	assert.NotEqual(t, Fingerprint("a"), Fingerprint("a "))
}
