package daemontest

import (
	"strings"
	"testing"

	"github.com/credpool/credpool/oauth/oauthtest"
)

// SecretMark is in every fake token of the tests that run the binary (and
// in every token oauthtest issues), so that a leak is found by one
// substring search whatever the token. Start checks each daemon's stderr
// for it at the end of the test.
const SecretMark = oauthtest.Marker

// NoSecret fails the test when text (what names where it came from) holds
// SecretMark; the failure shows what surrounds it, to find the line.
func NoSecret(t testing.TB, what, text string) {
	t.Helper()
	if i := strings.Index(text, SecretMark); i >= 0 {
		t.Errorf("a secret leaked into %s: …%s…", what, text[max(0, i-200):min(len(text), i+100)])
	}
}

// MarkSecrets replaces, in a decoded auth.json, every non-empty
// access_token, refresh_token and id_token by newToken(field, old), which
// must hold SecretMark. Equal tokens get one replacement (newToken is asked
// once), so an alias (a pool row holding its provider's singleton pair)
// stays an alias.
func MarkSecrets(doc map[string]any, newToken func(field, old string) string) {
	replaced := map[string]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				s, ok := x.(string)
				if !ok || s == "" {
					walk(x)
					continue
				}
				switch k {
				case "access_token", "refresh_token", "id_token":
					if _, done := replaced[s]; !done {
						replaced[s] = newToken(k, s)
					}
					v[k] = replaced[s]
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}
