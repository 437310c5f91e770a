package pool

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what an admin may put into the pool. The reader (authfile)
// reads integers up to 2^53 exactly, as Python and JavaScript do; nothing
// larger is accepted, so nothing written can fail to read back.
const (
	MaxProviderLen = 64
	MaxLabelRunes  = 128
	MaxTokenBytes  = 16 << 10
	MaxSafeInt     = 1 << 53
)

// ValidProvider checks a provider name (a credential_pool key): 1 to 64
// characters of a-z, 0-9, '-', '_', '.' and ':', starting with a letter or
// digit, with no "..". Hermes' keys look like openrouter, openai-codex and
// custom:together.ai. Anything else could spoof status output or a path.
// The message names the first rule the name breaks, in the order people
// break them: upper case, then other characters, length, the first
// character, "..".
func ValidProvider(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("pool: provider name %s: %s: %w", Quote(name), why, ErrBadInput)
	}
	if name == "" {
		return bad("empty")
	}
	if strings.ContainsFunc(name, unicode.IsUpper) {
		why := "upper-case letters are not allowed; provider names are lower case"
		if lower := strings.ToLower(name); lower != name && ValidProvider(lower) == nil {
			why += fmt.Sprintf(" (%s)", Quote(lower))
		}
		return bad(why)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
			return bad("only a-z, 0-9, '-', '_', '.' and ':' are allowed")
		}
	}
	switch {
	case len(name) > MaxProviderLen:
		return bad(fmt.Sprintf("longer than %d characters", MaxProviderLen))
	case !isAlnum(name[0]):
		return bad("must start with a letter or digit")
	case strings.Contains(name, ".."):
		return bad(`must not contain ".."`)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// maxQuotedRunes bounds caller text repeated in a message.
const maxQuotedRunes = 64

// Quote is the one way a message repeats text a caller sent (a provider
// name from a path, a target, a strategy, a field name): quoted with every
// control, bidirectional and other non-ASCII character escaped, so that it
// cannot rewrite the line around it, and cut to 64 characters, the cut
// marked with … inside the quotes (an escaped text holds no … of its own),
// so that no message grows with its input.
func Quote(s string) string {
	cut := truncateRunes(s, maxQuotedRunes)
	q := strconv.QuoteToASCII(cut)
	if len(cut) < len(s) {
		q = q[:len(q)-1] + "…\""
	}
	return q
}

// validToken checks a secret: printable ASCII without spaces, as every API
// key and OAuth token is. A newline in a token would split a header.
func validToken(what, tok string) error {
	if len(tok) > MaxTokenBytes {
		return fmt.Errorf("%s is longer than %d bytes: %w", what, MaxTokenBytes, ErrBadInput)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%s holds a space, control or non-ASCII character: %w", what, ErrBadInput)
		}
	}
	return nil
}

// validLabel checks a label: no control characters and no bidirectional
// overrides, which would let a label rewrite the status line around it.
func validLabel(label string) error {
	if utf8.RuneCountInString(label) > MaxLabelRunes {
		return fmt.Errorf("label is longer than %d characters: %w", MaxLabelRunes, ErrBadInput)
	}
	if !utf8.ValidString(label) {
		return fmt.Errorf("label is not valid UTF-8: %w", ErrBadInput)
	}
	if !Printable(label) {
		return fmt.Errorf("label holds a control or bidirectional-override character: %w", ErrBadInput)
	}
	return nil
}

// Printable reports whether s holds no control character, no
// bidirectional override and no line or paragraph separator: nothing that
// would let it rewrite the status line or log line it is shown on. Labels
// and the models and ids of requests are held to it.
func Printable(s string) bool { return !strings.ContainsFunc(s, Unprintable) }

// Unprintable reports a rune that must not reach a terminal or a log line
// as it is: a control or bidirectional-override character, or a line or
// paragraph separator (another writer's text could rewrite the line around
// it).
func Unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// validBaseURL checks a base URL: absolute http or https with a host.
func validBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("base URL %s: want an absolute http or https URL: %w", Quote(s), ErrBadInput)
	}
	return nil
}
