package oauth

import (
	"math"
	"time"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/tokeninfo"
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

// Due reports whether a token expiring at expiresAt (epoch seconds) should
// be refreshed now: within horizon of its expiry (DefaultHorizon when 0), or
// past it. xAI refreshes max(horizon, 1 h) early, except while 45 minutes or
// less remain, when horizon applies (Hermes' rule, measured on the time
// remaining, not on the token's total lifetime). An unknown expiry
// (expiresAt <= 0) is never due: a 401 report triggers that refresh instead.
func Due(provider string, expiresAt float64, now time.Time, horizon time.Duration) bool {
	if !tokeninfo.Sane(expiresAt) {
		return false
	}
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	remaining := epoch.Until(expiresAt, now)
	skew := horizon.Seconds()
	if provider == XAI && (remaining <= 0 || remaining > xaiShortToken.Seconds()) {
		skew = math.Max(skew, xaiHorizon.Seconds())
	}
	return remaining <= skew
}
