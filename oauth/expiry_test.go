package oauth_test

import (
	"encoding/base64"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/credpool/credpool/oauth"
)

// jwtWith builds a JWT-shaped token around a raw payload (unsigned).
func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".sig-SECRET"
}

func TestExpiry(t *testing.T) {
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
			got, ok := oauth.Expiry(tc.expiresAt, tc.ms, tc.token)
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
		got, ok := oauth.Expiry(at, ms, token)
		if ok && (math.IsNaN(got) || got <= 0 || got > 253402300799) {
			t.Fatalf("Expiry gave %v", got)
		}
		if !ok && got != 0 {
			t.Fatalf("not ok but %v", got)
		}
	})
}

func TestDue(t *testing.T) {
	at := func(d time.Duration) float64 { return epochOf(now.Add(d)) }
	for _, tc := range []struct {
		name      string
		provider  string
		expiresAt float64
		horizon   time.Duration
		want      bool
	}{
		{"unknown expiry", oauth.Codex, 0, 0, false},
		{"unknown expiry, xai", oauth.XAI, 0, 0, false},
		{"garbage expiry", oauth.Codex, math.NaN(), 0, false},
		{"well ahead", oauth.Codex, at(121 * time.Second), 0, false},
		{"at the default horizon", oauth.Anthropic, at(120 * time.Second), 0, true},
		{"inside it", oauth.Nous, at(30 * time.Second), 0, true},
		{"expired", oauth.Codex, at(-time.Hour), 0, true},
		{"a longer horizon", oauth.Anthropic, at(500 * time.Second), 10 * time.Minute, true},
		{"outside a longer horizon", oauth.Anthropic, at(700 * time.Second), 10 * time.Minute, false},
		{"a longer horizon is no xai rule elsewhere", oauth.Codex, at(50 * time.Minute), 0, false},
		// xAI: an hour early while more than 45 minutes remain…
		{"xai two hours left", oauth.XAI, at(2 * time.Hour), 0, false},
		{"xai an hour left", oauth.XAI, at(time.Hour), 0, true},
		{"xai fifty minutes left", oauth.XAI, at(50 * time.Minute), 0, true},
		// …and only the default horizon early once 45 minutes or less do.
		{"xai 45 minutes left", oauth.XAI, at(45 * time.Minute), 0, false},
		{"xai ten minutes left", oauth.XAI, at(10 * time.Minute), 0, false},
		{"xai two minutes left", oauth.XAI, at(2 * time.Minute), 0, true},
		{"xai expired", oauth.XAI, at(-time.Second), 0, true},
		{"xai with a horizon past an hour", oauth.XAI, at(90 * time.Minute), 2 * time.Hour, true},
		{"xai short token with a longer horizon", oauth.XAI, at(8 * time.Minute), 10 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, oauth.Due(tc.provider, tc.expiresAt, now, tc.horizon))
		})
	}
}
