package oauth

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// DefaultHorizon is how long before expiry a token is due for a refresh.
const DefaultHorizon = 120 * time.Second

// xAI's refresh rule (Hermes _xai_proactive_refresh_skew_seconds): its
// multi-hour tokens refresh an hour early, so that callers that only touch
// the provider every half hour never find them expired; but a token with 45
// minutes or less left (device-code logins get ~15-minute ones) refreshes
// only DefaultHorizon early, or every use would spend a single-use refresh
// token.
const (
	xaiHorizon    = time.Hour
	xaiShortToken = 45 * time.Minute
)

// maxEpoch is 9999-12-31T23:59:59Z: a later "expiry" is garbage.
const maxEpoch = 253402300799

// Expiry is the access token's expiry in epoch seconds: expiresAt (epoch
// seconds, as the auth file reader gives it for expires_at), else
// expiresAtMS (expires_at_ms), else the JWT exp claim of accessToken, read
// without verifying the signature. ok is false when none gives a sane time.
func Expiry(expiresAt, expiresAtMS float64, accessToken string) (float64, bool) {
	switch {
	case sane(expiresAt):
		return expiresAt, true
	case sane(expiresAtMS / 1000):
		return expiresAtMS / 1000, true
	}
	return jwtExp(accessToken)
}

func sane(t float64) bool {
	return !math.IsNaN(t) && t > 0 && t <= maxEpoch
}

// jwtExp reads the exp claim of a JWT's payload; anything that is not a
// JWT with a numeric, sane exp gives false.
func jwtExp(token string) (float64, bool) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return 0, false
	}
	var claims struct {
		Exp any `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return 0, false
	}
	exp, ok := claims.Exp.(float64)
	if !ok || !sane(exp) {
		return 0, false
	}
	return exp, true
}

// Due reports whether a token expiring at expiresAt (epoch seconds) should
// be refreshed now: within horizon of its expiry (DefaultHorizon when 0), or
// past it. xAI refreshes max(horizon, 1 h) early, except while 45 minutes or
// less remain, when horizon applies (Hermes' rule, measured on the time
// remaining, not on the token's total lifetime). An unknown expiry
// (expiresAt <= 0) is never due: a 401 report triggers that refresh instead.
func Due(provider string, expiresAt float64, now time.Time, horizon time.Duration) bool {
	if !sane(expiresAt) {
		return false
	}
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	remaining := expiresAt - epoch(now)
	skew := horizon.Seconds()
	if provider == XAI && (remaining <= 0 || remaining > xaiShortToken.Seconds()) {
		skew = math.Max(skew, xaiHorizon.Seconds())
	}
	return remaining <= skew
}
