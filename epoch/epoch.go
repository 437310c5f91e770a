// Package epoch is credpool's one notion of time on the wire and on disk:
// epoch seconds as a float64, as auth.json and the API carry them. It holds
// the one conversion to and from time.Time and the one parser of the time
// forms other writers produce (epoch seconds, epoch milliseconds, ISO-8601
// in the shapes Python and JavaScript write, HTTP-dates for Retry-After).
// Every package that reads a time reads it here, so that a form accepted in
// one place is accepted everywhere.
package epoch

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bounds that keep times inside what time.Time, Python's datetime and the
// file can hold.
const (
	// Max is 9999-12-31T23:59:59Z, the last second Python's datetime holds.
	Max = 253402300799
	// MillisFrom: an epoch number above it is milliseconds (1e12 s is the
	// year 33658; 1e12 ms is 2001), the rule Hermes reads by.
	MillisFrom = 1e12
	// MaxDelay bounds a relative delay (Retry-After and the like).
	MaxDelay = 10 * 365 * 24 * 3600
)

// ErrBadTime is wrapped by every parse error.
var ErrBadTime = errors.New("not a time")

// Seconds converts t to epoch seconds. It never overflows, unlike
// t.UnixNano for dates after 2262.
func Seconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// Time converts epoch seconds to a time.Time. Epoch floats hold about
// microseconds; finer digits are noise and are rounded away. Values outside
// 0..Max are clamped, so that a stray value can neither overflow nor panic.
func Time(sec float64) time.Time {
	switch {
	case math.IsNaN(sec) || sec <= 0:
		return time.Unix(0, 0)
	case sec >= Max:
		return time.Unix(Max, 0)
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(math.Round(frac*1e6))*1e3)
}

// Until is how long from now until sec, in seconds (negative when past). It
// works on floats, so a date in the year 9999 is not an overflow.
func Until(sec float64, now time.Time) float64 { return sec - Seconds(now) }

var isoLayouts = []string{
	time.RFC3339Nano, // also takes no fraction
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// httpDateLayouts are the forms RFC 9110 allows, plus a numeric zone.
var httpDateLayouts = []string{
	time.RFC1123,
	"Mon, 02 Jan 2006 15:04:05 -0700",
	time.RFC850,
	time.ANSIC,
}

func bad(what, text string) error {
	if len(text) > 64 {
		text = text[:64] + "…"
	}
	return fmt.Errorf("epoch: %s %q: %w", what, text, ErrBadTime)
}

// Parse reads an absolute time: epoch seconds, epoch milliseconds
// (> MillisFrom) or ISO-8601 (with or without fraction, seconds and zone;
// a time without a zone is UTC; "Z", "+00:00" and "+0000" all work). The
// result is epoch seconds after 1970 and at most Max; anything else is an
// error, because taking it would turn a cooldown into "since forever" or
// into an overflow.
func Parse(text string) (float64, error) {
	s := strings.TrimSpace(text)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if sec, ok := fromNumber(v); ok {
			return sec, nil
		}
		return 0, bad("time", text)
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if sec := Seconds(t); sec > 0 && sec <= Max {
				return sec, nil
			}
			return 0, bad("time", text)
		}
	}
	return 0, bad("time", text)
}

// FromNumber reads an epoch number as auth.json holds one: seconds, or
// milliseconds above MillisFrom. It fails outside 1970..Max.
func FromNumber(v float64) (float64, error) {
	if sec, ok := fromNumber(v); ok {
		return sec, nil
	}
	return 0, bad("time", strconv.FormatFloat(v, 'g', -1, 64))
}

func fromNumber(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, false
	}
	if v > MillisFrom {
		v = math.Round(v) / 1000
	}
	// A time that rounds to the epoch itself is no time either.
	if v > Max || !Time(v).After(time.Unix(0, 0)) {
		return 0, false
	}
	return v, true
}

// ParseRetryAfter reads a Retry-After value, delta-seconds (fractions
// allowed) or an HTTP-date, as the epoch second it names.
func ParseRetryAfter(text string, now time.Time) (float64, error) {
	s := strings.TrimSpace(text)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(v) || v < 0 || v > MaxDelay {
			return 0, bad("retry-after", text)
		}
		return Seconds(now) + v, nil
	}
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if sec := Seconds(t); sec > 0 && sec <= Max {
				return sec, nil
			}
			break
		}
	}
	return 0, bad("retry-after", text)
}

// ISO writes epoch seconds as Python's datetime.isoformat() writes an aware
// UTC datetime, the form Hermes stamps auth.json with
// ("2026-06-01T12:34:56.789012+00:00", no fraction when whole), to the
// microsecond.
func ISO(sec float64) string { return ISOMicro(int64(math.Round(sec * 1e6))) }

// ISOMicro is ISO for microseconds since the epoch.
func ISOMicro(us int64) string {
	t := time.UnixMicro(us).UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

// Format writes epoch seconds as RFC 3339 UTC for logs and messages, or ""
// for 0 (no time).
func Format(sec float64) string {
	if sec == 0 {
		return ""
	}
	return Time(sec).UTC().Format(time.RFC3339)
}
