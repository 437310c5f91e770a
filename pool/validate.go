package pool

import (
	"fmt"
	"net/url"
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
func ValidProvider(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("pool: provider name %s: %s: %w", quoteShort(name), why, ErrBadInput)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxProviderLen:
		return bad(fmt.Sprintf("longer than %d characters", MaxProviderLen))
	case !isAlnum(name[0]):
		return bad("must start with a letter or digit")
	case strings.Contains(name, ".."):
		return bad(`must not contain ".."`)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
			return bad("only lower-case a-z, 0-9, '-', '_', '.' and ':' are allowed")
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// quoteShort quotes caller text for an error message: escaped (control and
// bidi characters show as \u escapes) and cut to 64 bytes.
func quoteShort(s string) string {
	return fmt.Sprintf("%+q", truncateRunes(s, 64))
}

// validToken checks a secret: printable ASCII without spaces, as every API
// key and OAuth token is. A newline in a token would split a header.
func validToken(what, tok string) error {
	if len(tok) > MaxTokenBytes {
		return fmt.Errorf("pool: %s is longer than %d bytes: %w", what, MaxTokenBytes, ErrBadInput)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("pool: %s holds a space, control or non-ASCII character: %w", what, ErrBadInput)
		}
	}
	return nil
}

// validLabel checks a label: no control characters and no bidirectional
// overrides, which would let a label rewrite the status line around it.
func validLabel(label string) error {
	if utf8.RuneCountInString(label) > MaxLabelRunes {
		return fmt.Errorf("pool: label is longer than %d characters: %w", MaxLabelRunes, ErrBadInput)
	}
	if !utf8.ValidString(label) {
		return fmt.Errorf("pool: label is not valid UTF-8: %w", ErrBadInput)
	}
	for _, r := range label {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("pool: label holds a control or bidirectional-override character: %w", ErrBadInput)
		}
	}
	return nil
}

// validBaseURL checks a base URL: absolute http or https with a host.
func validBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("pool: base URL %s: want an absolute http or https URL: %w", quoteShort(s), ErrBadInput)
	}
	return nil
}
