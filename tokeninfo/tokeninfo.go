// Package tokeninfo is what a token says about itself, with no I/O: when an
// OAuth access token expires (from the fields beside it, or its JWT exp
// claim), and the one-way fingerprint Hermes writes for a secret. The pool,
// the refresher and the readers of other tools' login files share it, so
// that an expiry or a fingerprint is computed the same way everywhere.
package tokeninfo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"

	"github.com/credpool/credpool/epoch"
)

// maxPayload bounds a JWT payload decoded: claims are small, and a hostile
// file must not make a reader decode megabytes.
const maxPayload = 64 << 10

// Expiry is the access token's expiry in epoch seconds: expiresAt (epoch
// seconds, as the auth file reader gives it for expires_at), else
// expiresAtMS (expires_at_ms), else the JWT exp claim of accessToken, read
// without verifying the signature. ok is false when none gives a sane time.
func Expiry(expiresAt, expiresAtMS float64, accessToken string) (float64, bool) {
	switch {
	case Sane(expiresAt):
		return expiresAt, true
	case Sane(expiresAtMS / 1000):
		return expiresAtMS / 1000, true
	}
	return JWTExp(accessToken)
}

// Sane reports whether t is an epoch time after 1970 and at most year 9999.
func Sane(t float64) bool {
	return !math.IsNaN(t) && t > 0 && t <= epoch.Max
}

// JWTExp reads the exp claim of a JWT's payload; anything that is not a
// JWT with a numeric, sane exp gives false.
func JWTExp(token string) (float64, bool) {
	var claims struct {
		Exp any `json:"exp"`
	}
	if !Claims(token, &claims) {
		return 0, false
	}
	exp, ok := claims.Exp.(float64)
	if !ok || !Sane(exp) {
		return 0, false
	}
	return exp, true
}

// Claims decodes a JWT's payload into v without verifying the signature
// (credpool never trusts a claim for access control; it reads expiry and
// account hints). It reports whether token was a JWT whose payload decoded.
func Claims(token string, v any) bool {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || len(payload) > maxPayload {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

// Fingerprint is the one-way id of a secret that Hermes writes as
// secret_fingerprint and in its spent-rotation ledger: "sha256:" and the
// first 16 hex digits of SHA-256 of the secret, as given.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
