package quota

import (
	"net/textproto"
	"strings"
)

// kind says how a known header's value is read and where it goes.
type kind uint8

const (
	kLimit        kind = iota + 1 // units per window
	kRemaining                    // units left
	kResetIn                      // Go-style duration from now (OpenAI)
	kResetRFC3339                 // RFC 3339 time (Anthropic API keys)
	kResetEpoch                   // epoch seconds (unified, Codex reset-at)
	kResetAfter                   // delay in seconds (Codex reset-after-seconds)
	kUtilization                  // fraction used, 0..1
	kUsedPercent                  // percent used, 0..100
	kStatus                       // allowed | allowed_warning | rejected
	kClaim                        // the unified window that binds
	kLimitName                    // the model family of a Codex limit
	kRetryAfter                   // delay seconds or HTTP-date
	kRetryAfterMs                 // delay in milliseconds
)

// known is what a recognised header name stands for.
type known struct {
	name  string // the header name; lower-cased, what Observation.Ignored reports
	kind  kind
	key   string // window key; for kLimitName the Codex limit id
	model string // model family the window applies to, "" = all
	codex bool   // a Codex limit family, which x-<limit>-limit-name scopes
}

// Window keys that more than one header feeds.
const (
	keyUnified    = "anthropic-unified/status" // the verdict on the whole answer
	keyRetryAfter = "http/retry-after"
	unifiedPrefix = "anthropic-ratelimit-unified-"
	codexDefault  = "codex" // x-codex-*: the limit id of Codex's main windows
)

// fixed holds every known header with a fixed name, under its lower-case and
// its canonical form, so that an http.Header is looked up without a copy.
var fixed = buildFixed()

func buildFixed() map[string]known {
	m := map[string]known{}
	add := func(name string, k kind, key string) {
		kn := known{name: name, kind: k, key: key}
		m[name] = kn
		m[textproto.CanonicalMIMEHeaderKey(name)] = kn
	}
	for _, w := range []string{"requests", "tokens", "requests_usage_based", "tokens_usage_based"} {
		add("x-ratelimit-limit-"+w, kLimit, "openai/"+w)
		add("x-ratelimit-remaining-"+w, kRemaining, "openai/"+w)
		add("x-ratelimit-reset-"+w, kResetIn, "openai/"+w)
	}
	for _, w := range []string{"requests", "tokens", "input-tokens", "output-tokens"} {
		add("anthropic-ratelimit-"+w+"-limit", kLimit, "anthropic/"+w)
		add("anthropic-ratelimit-"+w+"-remaining", kRemaining, "anthropic/"+w)
		add("anthropic-ratelimit-"+w+"-reset", kResetRFC3339, "anthropic/"+w)
	}
	add(unifiedPrefix+"status", kStatus, keyUnified)
	add(unifiedPrefix+"reset", kResetEpoch, keyUnified)
	add(unifiedPrefix+"representative-claim", kClaim, keyUnified)
	add("retry-after", kRetryAfter, keyRetryAfter)
	add("retry-after-ms", kRetryAfterMs, keyRetryAfter)
	return m
}

// codexSuffixes are the per-window fields of a Codex limit family. The
// window-minutes field is left out: it describes the window's length, which
// no decision here needs.
var codexSuffixes = []struct {
	suffix, slot string
	kind         kind
}{
	{"-primary-used-percent", "primary", kUsedPercent},
	{"-primary-reset-at", "primary", kResetEpoch},
	{"-primary-reset-after-seconds", "primary", kResetAfter},
	{"-secondary-used-percent", "secondary", kUsedPercent},
	{"-secondary-reset-at", "secondary", kResetEpoch},
	{"-secondary-reset-after-seconds", "secondary", kResetAfter},
}

// classify says whether name is a header this package reads, and what it
// stands for. Every other name is dropped unread.
func classify(name string) (known, bool) {
	if len(name) > MaxNameBytes {
		return known{}, false
	}
	if kn, ok := fixed[name]; ok {
		return kn, true
	}
	// Cheap rejection before any copy: every pattern starts with one of these.
	if !hasPrefixFold(name, "x-") && !hasPrefixFold(name, "anthropic-ratelimit-") && !hasPrefixFold(name, "retry-after") {
		return known{}, false
	}
	// The patterns read name as it came, case-insensitively: a canonical
	// name is then classified without a copy.
	if hasPrefixFold(name, unifiedPrefix) {
		if kn, ok := classifyUnified(name, name[len(unifiedPrefix):]); ok {
			return kn, true
		}
	} else if kn, ok := classifyCodex(name); ok {
		return kn, true
	}
	kn, ok := fixed[strings.ToLower(name)] // a fixed name in an odd case
	return kn, ok
}

// classifyUnified reads anthropic-ratelimit-unified-<window>-<field>, where
// a window is a length such as 5h or 7d, optionally scoped to a model family
// (7d_sonnet, 7d_opus). The overage window is not a budget of the plan (it
// meters paid extra usage, and "rejected" there mostly means "not enabled"),
// so it is not read.
func classifyUnified(name, rest string) (known, bool) {
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return known{}, false
	}
	win, field := rest[:i], rest[i+1:]
	var k kind
	switch {
	case strings.EqualFold(field, "status"):
		k = kStatus
	case strings.EqualFold(field, "reset"):
		k = kResetEpoch
	case strings.EqualFold(field, "utilization"):
		k = kUtilization
	default:
		return known{}, false
	}
	win = strings.ToLower(win) // no copy when already lower, as canonical names have it
	if !unifiedWindowName(win) {
		return known{}, false
	}
	kn := known{name: name, kind: k, key: "anthropic-unified/" + win}
	if _, model, ok := strings.Cut(win, "_"); ok {
		kn.model = model
	}
	return kn, true
}

// unifiedWindowName accepts digits, letters, then optionally _family:
// 5h, 7d, 7d_sonnet, 30d.
func unifiedWindowName(w string) bool {
	if len(w) == 0 || len(w) > 32 || !isDigit(w[0]) {
		return false
	}
	i := 0
	for i < len(w) && isDigit(w[i]) {
		i++
	}
	j := i
	for j < len(w) && isLower(w[j]) {
		j++
	}
	if j == i {
		return false
	}
	if j == len(w) {
		return true
	}
	if w[j] != '_' || j+1 == len(w) {
		return false
	}
	for _, c := range []byte(w[j+1:]) {
		if !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

// classifyCodex reads x-<limit>-{primary,secondary}-<field> and
// x-<limit>-limit-name. The limit id is what Codex calls it: the middle part
// with '-' made '_' (x-codex-bengalfox-* is limit codex_bengalfox).
func classifyCodex(name string) (known, bool) {
	if !hasPrefixFold(name, "x-") {
		return known{}, false
	}
	rest := name[2:]
	if hasSuffixFold(rest, "-limit-name") {
		limit := strings.ToLower(rest[:len(rest)-len("-limit-name")])
		// x-codex-limit-name is not read: Codex's main windows are the
		// account's general budget, and scoping them to one model would
		// let every other model through an exhausted account.
		if !codexLimitName(limit) || limit == codexDefault {
			return known{}, false
		}
		return known{name: name, kind: kLimitName, key: strings.ReplaceAll(limit, "-", "_")}, true
	}
	for _, s := range codexSuffixes {
		if !hasSuffixFold(rest, s.suffix) {
			continue
		}
		limit := strings.ToLower(rest[:len(rest)-len(s.suffix)])
		if !codexLimitName(limit) {
			return known{}, false
		}
		key := strings.ReplaceAll(limit, "-", "_") + "/" + s.slot
		return known{name: name, kind: s.kind, key: key, codex: true}, true
	}
	return known{}, false
}

// codexLimitName accepts lower-case words joined by single dashes.
func codexLimitName(s string) bool {
	if len(s) == 0 || len(s) > 48 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' && s[i-1] == '-' {
			return false
		}
		if c != '-' && !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// lowerName is the name Observation.Ignored and Check's errors give.
func (kn known) lowerName() string { return strings.ToLower(kn.name) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
