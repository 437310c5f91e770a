package tokeninfo

import (
	"encoding/base64"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// jwtWith builds a JWT-shaped token around a raw payload (unsigned).
func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".sig-SECRET"
}

// TestExpiryForms pins every form an expiry comes in, and what is not one.
func TestExpiryForms(t *testing.T) {
	for _, tc := range []struct {
		name          string
		expiresAt, ms float64
		token         string
		want          float64
		ok            bool
	}{
		{"expires_at", 1.8e9, 0, "", 1.8e9, true},
		{"expires_at wins over ms and jwt", 1.8e9, 1.9e12, jwtWith(`{"exp":2000000000}`), 1.8e9, true},
		{"expires_at_ms", 0, 1_800_000_000_500, "", 1_800_000_000.5, true},
		{"jwt exp", 0, 0, jwtWith(`{"exp":1900000000,"sub":"x"}`), 1.9e9, true},
		{"jwt fractional exp", 0, 0, jwtWith(`{"exp":1900000000.25}`), 1_900_000_000.25, true},
		{"jwt padded payload", 0, 0, "eyJhbGciOiJub25lIn0." + base64.URLEncoding.EncodeToString([]byte(`{"exp":1900000001}`)) + ".x", 1_900_000_001, true},
		{"jwt with no signature part", 0, 0, "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1900000002}`)) + ".", 1_900_000_002, true},
		{"NaN expires_at falls through to the jwt", math.NaN(), 0, jwtWith(`{"exp":1900000000}`), 1.9e9, true},
		{"past year 9999 falls through", 1e12, 0, "", 0, false},
		{"nothing", 0, 0, "", 0, false},
		{"opaque token", 0, 0, "sk-ant-oat01-SECRET", 0, false},
		{"two parts only", 0, 0, "a.b", 0, false},
		{"bad base64", 0, 0, "a.!!!.c", 0, false},
		{"payload not json", 0, 0, jwtWith(`exp=1900000000`), 0, false},
		{"payload an array", 0, 0, jwtWith(`[1900000000]`), 0, false},
		{"exp a string", 0, 0, jwtWith(`{"exp":"1900000000"}`), 0, false},
		{"exp negative", 0, 0, jwtWith(`{"exp":-5}`), 0, false},
		{"exp huge", 0, 0, jwtWith(`{"exp":1e20}`), 0, false},
		{"no exp", 0, 0, jwtWith(`{"iat":1900000000}`), 0, false},
		{"negative expires_at", -1, 0, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Expiry(tc.expiresAt, tc.ms, tc.token)
			assert.Equal(t, tc.ok, ok)
			assert.InDelta(t, tc.want, got, 1e-6)
		})
	}
}

func FuzzExpiry(f *testing.F) {
	f.Add(0.0, 0.0, jwtWith(`{"exp":1900000000}`))
	f.Add(1.8e9, 0.0, "")
	f.Add(0.0, 1.8e12, "a.b.c")
	f.Add(math.Inf(1), math.NaN(), "..")
	f.Fuzz(func(t *testing.T, at, ms float64, token string) {
		got, ok := Expiry(at, ms, token)
		if ok && (math.IsNaN(got) || got <= 0 || got > 253402300799) {
			t.Fatalf("Expiry gave %v", got)
		}
		if !ok && got != 0 {
			t.Fatalf("not ok but %v", got)
		}
	})
}

func BenchmarkExpiryJWT(b *testing.B) {
	tok := jwtWith(`{"exp":1900000000,"sub":"user-1234567890","aud":["https://api.openai.com/v1"],"scope":"openid profile email offline_access"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Expiry(0, 0, tok); !ok {
			b.Fatal("no exp")
		}
	}
}
