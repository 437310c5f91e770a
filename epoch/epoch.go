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

// The parse errors are fixed texts: a time field sits beside tokens and a
// writer may have put anything in it, so no error quotes its input; and a
// file full of bad times costs no allocation per value on the report path.
var (
	errTime       = fmt.Errorf("epoch: want epoch seconds, epoch milliseconds or ISO-8601, from 1970 to 9999: %w", ErrBadTime)
	errRetryAfter = fmt.Errorf("epoch: Retry-After: want delta-seconds (at most %d) or an HTTP-date: %w", MaxDelay, ErrBadTime)
)

// IsNumber reports whether s has the shape of a decimal number (digits,
// '.', an exponent, a sign only first or right after the 'e'), which no
// ISO-8601 or HTTP-date text has. Parse and ParseRetryAfter read a number
// only when s has that shape, so that a date never pays for a failed
// strconv.ParseFloat (it allocates its error); a caller that must tell a
// number from a date before it parses (authfile, to know milliseconds;
// quota, where a bare number is no RFC 3339 time) asks the same question
// here. Surrounding space is not trimmed.
func IsNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E':
		case c == '+' || c == '-':
			if i > 0 && s[i-1] != 'e' && s[i-1] != 'E' {
				return false
			}
		default:
			return false
		}
	}
	return s != ""
}

// Parse reads an absolute time: epoch seconds, epoch milliseconds
// (> MillisFrom) or ISO-8601 (with or without fraction, seconds and zone;
// a time without a zone is UTC; "Z", "+00:00" and "+0000" all work). The
// result is epoch seconds after 1970 and at most Max; anything else is an
// error, because taking it would turn a cooldown into "since forever" or
// into an overflow. A number is decimal (IsNumber): not hex, not "Inf".
func Parse(text string) (float64, error) {
	s := strings.TrimSpace(text)
	if IsNumber(s) {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			if sec, ok := fromNumber(v); ok {
				return sec, nil
			}
		}
		return 0, errTime
	}
	// Every layout begins with the date: text that does not is not tried
	// against each of them (a failed time.Parse allocates its error).
	if len(s) < len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return 0, errTime
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if sec := Seconds(t); sec > 0 && sec <= Max {
				return sec, nil
			}
			return 0, errTime
		}
	}
	return 0, errTime
}

// FromNumber reads an epoch number as auth.json holds one: seconds, or
// milliseconds above MillisFrom. It fails outside 1970..Max.
func FromNumber(v float64) (float64, error) {
	if sec, ok := fromNumber(v); ok {
		return sec, nil
	}
	return 0, errTime
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
	if IsNumber(s) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > MaxDelay {
			return 0, errRetryAfter
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
	return 0, errRetryAfter
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
