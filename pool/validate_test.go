package pool

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"openrouter", `"openrouter"`},
		{"", `""`},
		{"a\nb\x1b[0m", `"a\nb\x1b[0m"`},
		{"évil\u202e", `"\u00e9vil\u202e"`},
		{"\xff", `"\xff"`},
		{"…", `"\u2026"`}, // a … of the text is escaped: only the cut shows one
		{strings.Repeat("x", maxQuotedRunes), `"` + strings.Repeat("x", maxQuotedRunes) + `"`},
		{strings.Repeat("x", maxQuotedRunes+1), `"` + strings.Repeat("x", maxQuotedRunes) + `…"`},
		{strings.Repeat("é", 1000), `"` + strings.Repeat(`\u00e9`, maxQuotedRunes) + `…"`},
	} {
		t.Run(tc.in[:min(len(tc.in), 12)], func(t *testing.T) {
			assert.Equal(t, tc.want, Quote(tc.in))
		})
	}
}

// TestValidProviderMessages: the message names the rule the name breaks.
func TestValidProviderMessages(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"openrouter", ""},
		{"custom:together.ai", ""},
		{"Bad", `pool: provider name "Bad": upper-case letters are not allowed; provider names are lower case ("bad"): bad input`},
		{"OpenRouter", `pool: provider name "OpenRouter": upper-case letters are not allowed; provider names are lower case ("openrouter"): bad input`},
		{"-A", `pool: provider name "-A": upper-case letters are not allowed; provider names are lower case: bad input`},
		{"", `pool: provider name "": empty: bad input`},
		{"a b", `pool: provider name "a b": only a-z, 0-9, '-', '_', '.' and ':' are allowed: bad input`},
		{"ünï", `pool: provider name "\u00fcn\u00ef": only a-z, 0-9, '-', '_', '.' and ':' are allowed: bad input`},
		{"-x", `pool: provider name "-x": must start with a letter or digit: bad input`},
		{"a..b", `pool: provider name "a..b": must not contain "..": bad input`},
		{strings.Repeat("a", MaxProviderLen+1), `pool: provider name "` + strings.Repeat("a", maxQuotedRunes) + `…": longer than 64 characters: bad input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidProvider(tc.name)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBadInput)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

// TestAddErrorsHaveOnePrefix: an add's error says "pool:" once, whichever
// check failed.
func TestAddErrorsHaveOnePrefix(t *testing.T) {
	for _, tc := range []struct {
		name, provider string
		in             NewEntry
		want           string
	}{
		{"provider", "Bad", NewEntry{AccessToken: "sk-x-0000000"},
			`pool: provider name "Bad": upper-case letters are not allowed; provider names are lower case ("bad"): bad input`},
		{"label", prov, NewEntry{AccessToken: "sk-x-0000000", Label: strings.Repeat("l", MaxLabelRunes+1)},
			`pool: add to "openrouter": label is longer than 128 characters: bad input`},
		{"token", prov, NewEntry{AccessToken: "sk-x 0000000"},
			`pool: add to "openrouter": access token holds a space, control or non-ASCII character: bad input`},
		{"base URL", prov, NewEntry{AccessToken: "sk-x-0000000", BaseURL: "ftp://x"},
			`pool: add to "openrouter": base URL "ftp://x": want an absolute http or https URL: bad input`},
		{"auth type", prov, NewEntry{AccessToken: "sk-x-0000000", AuthType: "cookie"},
			`pool: add to "openrouter": auth type "cookie": want api_key or oauth: bad input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
			_, _, err := p.Add(tc.provider, tc.in)
			require.ErrorIs(t, err, ErrBadInput)
			assert.Equal(t, tc.want, err.Error())
			assert.Equal(t, 1, strings.Count(err.Error(), "pool:"))
		})
	}
}
