// Package tokeninfo is what a token says about itself, with no I/O: when an
// OAuth access token expires (from the fields beside it, or its JWT exp
// claim), the account and email a JWT names, and the one-way fingerprint
// Hermes writes for a secret. The pool, the refresher, the gateway and the
// readers of other tools' login files share it, so that each is read the
// same way everywhere.
package tokeninfo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"unicode"

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

// ChatGPTAccountID is the ChatGPT account an OpenAI OAuth token (ID or
// access token) names in its chatgpt_account_id claim; "" when the token
// is not such a JWT.
func ChatGPTAccountID(token string) string {
	var c struct {
		Auth json.RawMessage `json:"https://api.openai.com/auth"`
	}
	var auth struct {
		AccountID json.RawMessage `json:"chatgpt_account_id"`
	}
	if !Claims(token, &c) || json.Unmarshal(c.Auth, &auth) != nil {
		return ""
	}
	return claimString(auth.AccountID)
}

// maxEmail is the longest address (RFC 5321's path limit).
const maxEmail = 254

// Email is the email an ID token names: its email claim (Google, OpenAI),
// else OpenAI's profile email. It is meant for a label, so "" when the
// token names none or the claim is not a plain printable address (too
// long, or with spaces or control characters that could rewrite a line).
func Email(idToken string) string {
	var c struct {
		Email   json.RawMessage `json:"email"`
		Profile json.RawMessage `json:"https://api.openai.com/profile"`
	}
	if !Claims(idToken, &c) {
		return ""
	}
	e := claimString(c.Email)
	if e == "" {
		var profile struct {
			Email json.RawMessage `json:"email"`
		}
		if json.Unmarshal(c.Profile, &profile) == nil {
			e = claimString(profile.Email)
		}
	}
	if len(e) > maxEmail || strings.IndexFunc(e, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return ""
	}
	return e
}

// claimString is a claim that is a string, else "". The claims above are
// decoded raw first, so that one of an unexpected type (or a claim beside
// them, such as an exp written as a string) makes only itself "".
func claimString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// Fingerprint is the one-way id of a secret that Hermes writes as
// secret_fingerprint and in its spent-rotation ledger: "sha256:" and the
// first 16 hex digits of SHA-256 of the secret, as given.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
