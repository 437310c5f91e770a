package redact

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Known secrets of no token shape, so that only the index can find them.
const (
	secA    = "oauthSECRETa1b2c3d4e5f6"     // hint d4e5f6 -> …e5f6
	secB    = "refreshSECRET9z8y7x6w5v"     // …6w5v
	secLong = "oauthSECRETa1b2c3d4e5f6g7h8" // begins with secA
	secUTF8 = "ключSECRETпароль"            // Cyrillic, 16 runes
)

func TestStringKnownSecrets(t *testing.T) {
	r := New(secA, secB, secLong, secUTF8, "short", "ключ12", "", secA)
	for _, tc := range []struct{ name, in, want string }{
		{"whole secret", secA, "…e5f6"},
		{"at start", secA + " was rejected", "…e5f6 was rejected"},
		{"at end", "invalid token " + secA, "invalid token …e5f6"},
		{"in the middle", "token " + secA + " is revoked", "token …e5f6 is revoked"},
		{"glued inside a word", "xx" + secA + "yy", "xx…e5f6yy"},
		{"two secrets", secA + " and " + secB, "…e5f6 and …6w5v"},
		{"two secrets side by side", secA + secB, "…e5f6…6w5v"},
		{"same secret twice", secA + "," + secA, "…e5f6,…e5f6"},
		{"the longer of two sharing a prefix", "t=" + secLong + ".", "t=…g7h8."},
		{"the shorter of two sharing a prefix", "t=" + secA + "g7.", "t=[redacted]."},
		{"shorter one, then text", "t=" + secA + "!", "t=…e5f6!"},
		{"secrets overlapping in the text", "x" + secA[:12] + secB + "y", "x[redacted]…6w5v" + "y"},
		{"a secret starting inside another", "x" + secA + secB[:9] + "y", "x…e5f6[redacted]y"},
		{"prefix of 8", "key " + secA[:8] + "… rejected", "key [redacted]… rejected"},
		{"prefix of 7 stays", "key " + secA[:7] + "… rejected", "key " + secA[:7] + "… rejected"},
		{"longest prefix run", "key " + secA[:15] + "?", "key [redacted]?"},
		{"prefix then divergence", secA[:10] + "QQQQ", "[redacted]QQQQ"},
		{"UTF-8 around", "ключ «" + secA + "» недействителен", "ключ «…e5f6» недействителен"},
		{"UTF-8 secret", "токен " + secUTF8 + " отозван", "токен …роль отозван"},
		{"UTF-8 secret parting inside a character", secUTF8[:14] + "о x", "[redacted] x"}, // п is D0 BF, о is D0 BE
		{"8 bytes but 4 characters", "ключ, SECRET", "ключ, SECRET"},
		{"the same, then more", "ключSECR", "[redacted]"},
		{"short secret ignored", "a short word", "a short word"},
		{"10 bytes but 6 characters ignored", "ключ12", "ключ12"},
		{"nothing", "rate limit exceeded", "rate limit exceeded"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := assertRedacts(t, r.String, tc.in, tc.want)
			assertNoPrefix(t, got, secA, secB, secLong, secUTF8)
		})
	}
}

func TestTokenShapes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"OpenAI legacy", "key sk-SECRET0123456789abcdefABCDEF0123456789abcdef ok", "key [redacted] ok"},
		{"OpenAI project", "Incorrect API key provided: sk-proj-SECRETx8Qw3_Lk-19. You can", "Incorrect API key provided: [redacted]. You can"},
		{"OpenAI project cut short", "sk-proj-abcdefgh…", "[redacted]…"},
		{"OpenAI service account", "(sk-svcacct-SECRETabc123)", "([redacted])"},
		{"OpenAI admin", "sk-admin-SECRETabc123", "[redacted]"},
		{"OpenAI masked", "key sk-proj-********abcd is invalid", "key [redacted] is invalid"},
		{"OpenAI masked legacy", "sk-abc1****************************wxyz", "[redacted]"},
		{"Anthropic API key", `"sk-ant-api03-SECRETAbC123_xyz-AA"`, `"[redacted]"`},
		{"Anthropic OAuth", "token=sk-ant-oat01-SECRETqwerty12", "token=[redacted]"},
		{"OpenRouter", "sk-or-v1-0123456789abcdefSECRET", "[redacted]"},
		{"xAI", "xai-SECRETa1B2c3D4e5F6g7H8", "[redacted]"},
		{"Google", "?key=AIzaSyA-SECRET_0123456789abcdefghij&alt=json", "?key=[redacted]&alt=json"},
		{"GitHub personal", "ghp_SECRET0123456789abcdefghijABCDEFGHIJ", "[redacted]"},
		{"GitHub OAuth", "gho_SECRET0123456789abcdef", "[redacted]"},
		{"GitHub fine-grained", "github_pat_11ABCDEFG0SECRET_abcdefghijk", "[redacted]"},
		{"JWT", "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQ.c2lnU0VDUkVU-_x. next", "jwt [redacted]. next"},
		{"JWT glued to a word", "tokeneyJhbGciOiJSUzI1NiJ9.eyJzdWIi.c2ln", "token[redacted]"},
		{"unsigned JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[redacted]"},
		{"Bearer", "Authorization: Bearer SECRETabc123XYZ.", "Authorization: Bearer [redacted]."},
		{"bearer, any case, tab", "authorization: bearer\tSECRET/abc+12==", "authorization: bearer\t[redacted]"},
		{"Bearer JWT", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIi.c2ln", "Bearer [redacted]"},
		{"two shapes", "sk-proj-SECRET123456 then xai-SECRET7890abcd", "[redacted] then [redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := assertRedacts(t, Text, tc.in, tc.want)
			assert.NotContains(t, got, "SECRET")
			assert.Equal(t, got, New(secA).String(tc.in), "a Redactor redacts shapes too")
		})
	}
}

func TestOrdinaryWordsStay(t *testing.T) {
	for _, in := range []string{
		"risk-assessment", "task-1", "desk-lamp", "eyJ", "a bare sk-1 is no key",
		"task-ant-colonies", "mask-admin-settings", "disk-proj-abcdefgh", "the sk-learn-models page",
		"xai-grok-2-1212", "missing Bearer token", "Bearer authentication failed",
		"use Bearer YOUR_KEY", "AIza", "ghp_", "header eyJhbGciOiJIUzI1NiJ9 alone",
		"a JWT cut short eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx", "heyJude.a.b",
		"sk-proj-…abcd", "sk-...wxyz", "see https://platform.openai.com/account/api-keys.",
		"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29807, Requested 1200. Please try again in 2.014s.",
	} {
		t.Run(in, func(t *testing.T) {
			assert.Equal(t, in, Text(in))
			assert.Equal(t, in, New(secA, secB).String(in))
		})
	}
}

// A replacement can make a word start where there was none: the rest of a
// glued token must not come out token-shaped.
func TestReplacementMakesWordStart(t *testing.T) {
	r := New(secA)
	for _, in := range []string{
		secA[:9] + "sk-proj-SECRET12345678",
		secA + "sk-proj-SECRET12345678",
		secA + "xai-SECRET1234abcd",
	} {
		got := r.String(in)
		assert.NotContains(t, got, "SECRET", in)
		assert.Equal(t, got, r.String(got), in)
	}
}

// A known secret keeps its hint where a token shape covers exactly it.
func TestKnownTokenKeepsHint(t *testing.T) {
	const key = "sk-proj-SECRETx8Qw3_Lk-19"
	r := New(secA, key)
	for _, tc := range []struct{ in, want string }{
		{"Authorization: Bearer " + secA, "Authorization: Bearer …e5f6"},
		{"Bearer " + secA + ".", "Bearer …e5f6."},
		{"Bearer " + secA + "more", "Bearer [redacted]"}, // more than the secret: no hint
		{"Incorrect API key provided: " + key + ".", "Incorrect API key provided: …k-19."},
		{"Bearer " + key, "Bearer …k-19"},
		{key + "-more", "[redacted]"},
	} {
		assertRedacts(t, r.String, tc.in, tc.want)
	}
}

func TestNothingToRedactReturnsSameString(t *testing.T) {
	r := New(secA, secB)
	// Built at run time so that the check is about this string's bytes.
	msg := strings.Repeat("upstream returned 429: rate limited, retry later. ", 10)
	for name, f := range map[string]func(string) string{
		"String": r.String, "Text": Text, "nil Redactor": (*Redactor)(nil).String,
	} {
		t.Run(name, func(t *testing.T) {
			got := f(msg)
			require.Equal(t, msg, got)
			assert.Same(t, unsafe.StringData(msg), unsafe.StringData(got))
			assert.Zero(t, testing.AllocsPerRun(100, func() { _ = f(msg) }))
		})
	}
}

func TestNilRedactorRedactsShapes(t *testing.T) {
	var r *Redactor
	assert.Equal(t, "[redacted] and "+secA, r.String("sk-proj-SECRET12345678 and "+secA))
}

func TestFromSeq(t *testing.T) {
	r := FromSeq(func(yield func(string) bool) {
		for _, s := range []string{secA, secB} {
			if !yield(s) {
				return
			}
		}
	})
	assert.Equal(t, "…e5f6 …6w5v", r.String(secA+" "+secB))
}

// Many secrets sharing their first 8 bytes (every sk-proj- key does) form
// one large span of the index: each must still be found, whole or cut.
func TestManySecretsSharingAPrefix(t *testing.T) {
	secrets := fakeTokens(5000, "sk-proj-")
	secrets = append(secrets, fakeTokens(5000, "oauthtok")...)
	r := New(secrets...)
	for _, k := range []int{0, 1, 2500, 4999, 5000, 7777, 9999} {
		s := secrets[k]
		assert.Equal(t, "x …"+s[len(s)-4:]+" y", r.String("x "+s+" y"), k)
		assert.Equal(t, "x [redacted]… y", r.String("x "+s[:20]+"… y"), k)
	}
	assert.Equal(t, "[redacted]", r.String("sk-proj-"), "the first 8 bytes of a known key are redacted even alone")
}

func TestHint(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "1234567": "", "12345678": "5678", secA: "e5f6", secUTF8: "роль", "ключ12": "", "ключ1234": "1234",
	} {
		assert.Equal(t, want, Hint(in), in)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := New(fakeTokens(1000, "oauthtok")...)
	in := "token " + secA + " rejected: Bearer SECRETabc123XYZ"
	want := New(fakeTokens(1000, "oauthtok")...).String(in)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				assert.Equal(t, want, r.String(in))
			}
		})
	}
	wg.Wait()
}

// fakeTokens returns n distinct tokens that begin with prefix and carry the
// SECRET marker.
func fakeTokens(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "SECRET" + strings.Repeat(string(rune('a'+i%26)), 3) + itoa36(i*7919+1) + "Zq9"
	}
	return out
}

func itoa36(n int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b []byte
	for ; n > 0; n /= 36 {
		b = append(b, digits[n%36])
	}
	return string(b)
}

// assertRedacts checks that redact turns in into want, keeps UTF-8 valid
// and changes nothing the second time; it returns what redact returned.
func assertRedacts(t *testing.T, redact func(string) string, in, want string) string {
	t.Helper()
	got := redact(in)
	assert.Equal(t, want, got)
	assert.True(t, utf8.ValidString(got), "valid UTF-8 in, valid UTF-8 out")
	assert.Equal(t, got, redact(got), "redacting twice changes nothing")
	return got
}

// assertNoPrefix checks that out holds no run of 8 characters that begins
// one of secrets.
func assertNoPrefix(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if p := []rune(s); len(p) >= minSecret {
			assert.NotContains(t, out, string(p[:minSecret]))
		}
	}
}
