package quota

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/epoch"
)

// Each reader returns ok=false for a value that cannot be trusted; the
// caller then names the header in Observation.Ignored.

// epochOf is t in epoch seconds: the project's one conversion.
var epochOf = epoch.Seconds

// validTime is the one range check of every time read or kept: the
// project's one range (after 1970, at most 9999-12-31T23:59:59Z).
func validTime(x float64) bool {
	return x > 0 && x <= MaxResetAt // false for NaN and ±Inf too
}

// number reads a finite, non-negative number.
func number(v string) (float64, bool) {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return 0, false
	}
	return x, true
}

// fraction reads a utilization, 0..1.
func fraction(v string) (float64, bool) {
	x, ok := number(v)
	return x, ok && x <= 1
}

// percent reads a used-percent, 0..100, as a fraction.
func percent(v string) (float64, bool) {
	x, ok := number(v)
	return x / 100, ok && x <= 100
}

// epochSeconds reads an absolute time in epoch seconds.
func epochSeconds(v string) (float64, bool) {
	x, ok := number(v)
	return x, ok && validTime(x)
}

// rfc3339 reads an absolute time such as 2026-06-01T12:34:56Z (a fraction
// of a second is allowed), with the project's one time parser; a bare
// number is not an RFC 3339 time here.
func rfc3339(v string) (float64, bool) {
	if epoch.IsNumber(strings.TrimSpace(v)) {
		return 0, false
	}
	x, err := epoch.Parse(v)
	return x, err == nil && validTime(x)
}

// goDuration reads a reset relative to now written as a Go duration:
// 6m0s, 1s, 12ms, 0.5s, 2h3m4.5s.
func goDuration(v string, now float64) (float64, bool) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, false
	}
	x := now + d.Seconds()
	return x, validTime(x)
}

// delay reads a relative reset as a count of units (seconds: 1, ms: 1e-3).
func delay(v string, now, unit float64) (float64, bool) {
	x, ok := number(v)
	if !ok {
		return 0, false
	}
	t := now + x*unit
	return t, validTime(t)
}

// retryAfter reads Retry-After: delta seconds, or an HTTP-date in any of the
// three forms RFC 9110 allows.
func retryAfter(v string, now float64) (float64, bool) {
	x, err := epoch.ParseRetryAfter(v, epoch.Time(now))
	return x, err == nil && validTime(x)
}

// status is a unified status word.
type status uint8

const (
	statusNone status = iota
	statusAllowed
	statusWarning
	statusRejected
)

var statusWords = [...]struct {
	word string
	st   status
}{{"allowed", statusAllowed}, {"allowed_warning", statusWarning}, {"rejected", statusRejected}}

func parseStatus(v string) (status, bool) {
	v = strings.TrimSpace(v)
	for _, s := range statusWords {
		if strings.EqualFold(v, s.word) {
			return s.st, true
		}
	}
	return statusNone, false
}

// modelName reads x-<limit>-limit-name ("GPT-5.3-Codex-Spark") as a model
// family, lower-cased; model names hold nothing but these characters.
func modelName(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) == 0 || len(v) > maxModelBytes {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i] | 0x20; !isLower(c) && !isDigit(v[i]) && !isSep(v[i]) {
			return "", false
		}
	}
	return strings.ToLower(v), true
}

// claimWindow maps a representative claim (five_hour, seven_day,
// seven_day_opus) to the unified window it names; ok=false when the claim
// is no word at all. A claim that names no window ("overage") is a word.
func claimWindow(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) == 0 || len(v) > 32 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if !isLower(v[i]) && !isDigit(v[i]) && v[i] != '_' {
			return "", false
		}
	}
	for _, m := range [...]struct{ claim, window string }{{"five_hour", "5h"}, {"seven_day", "7d"}} {
		if rest, ok := strings.CutPrefix(v, m.claim); ok && (rest == "" || rest[0] == '_') {
			return m.window + rest, true
		}
	}
	return "", true
}

// isSep separates the words of a model name.
func isSep(c byte) bool {
	switch c {
	case '-', '_', '.', '/', ':', ' ':
		return true
	}
	return false
}
