package pool

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxDelaySeconds bounds a delay read from a message.
const maxDelaySeconds = 10 * 365 * 24 * 3600

// delayTrigger finds the words after which providers put a delay. Longer
// alternatives come first: Go's regexp prefers the leftmost, then the first.
var delayTrigger = regexp.MustCompile(`(?i)quota[-_ ]?reset[-_ ]?delay|retry[-_ ]?delay|retry[-_ ]?after|try again|retry|resets?|wait`)

var delayUnits = map[string]float64{
	"ms": 1e-3, "msec": 1e-3, "msecs": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
}

// DelayFromMessage finds a delay in a provider's error message, such as
// "retry after 30 seconds", "Please try again in 20s", "resets in 2 hr 5
// min", "quotaResetDelay: 500ms" or "try again in 1m30s".
func DelayFromMessage(msg string) (time.Duration, bool) {
	for _, loc := range delayTrigger.FindAllStringIndex(msg, 8) {
		if sec, ok := scanDelay(msg[loc[1]:]); ok {
			return time.Duration(sec * float64(time.Second)), true
		}
	}
	return 0, false
}

// scanDelay reads "<sep> [in|after|for] N unit [N unit]..." from the start of
// s and returns the total in seconds. A lone number without unit is seconds.
func scanDelay(s string) (float64, bool) {
	s = skipSep(s)
	for _, w := range []string{"in ", "after ", "for "} {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			s = skipSep(s[len(w):])
			break
		}
	}
	total, parts := 0.0, 0
	for {
		n := 0
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
			n++
		}
		if n == 0 {
			break
		}
		v, err := strconv.ParseFloat(s[:n], 64)
		if err != nil {
			break
		}
		rest := strings.TrimLeft(s[n:], " ")
		u := 0
		for u < len(rest) && (rest[u]|0x20 >= 'a' && rest[u]|0x20 <= 'z') {
			u++
		}
		mult, known := delayUnits[strings.ToLower(rest[:u])]
		if !known {
			if parts == 0 {
				total, parts = v, 1 // "retry after 30": seconds
			}
			break
		}
		total += v * mult
		parts++
		s = strings.TrimLeft(rest[u:], " ,")
		if len(s) >= 4 && strings.EqualFold(s[:4], "and ") {
			s = s[4:]
		}
	}
	if parts == 0 || !(total > 0) || total > maxDelaySeconds {
		return 0, false
	}
	return total, true
}

func skipSep(s string) string {
	return strings.TrimLeft(s, " \t:=\"'")
}
