package redact

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// poolTokens returns n tokens shaped like a real pool's: OpenAI project
// keys, JWT access tokens from one issuer (one shared header), Claude OAuth
// access and refresh tokens, OpenRouter keys. Most share their first 8 bytes
// with thousands of others, which is the index's hard case.
func poolTokens(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	const jwtHeader = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjE5MzQ0ZTY1LWJiYzktNDRkMS1hOWQwLWY5NTdiMDc5YmQwZSIsInR5cCI6IkpXVCJ9."
	out := make([]string, n)
	for i := range out {
		switch i % 5 {
		case 0:
			out[i] = "sk-proj-" + randomToken(rng, 156)
		case 1:
			out[i] = jwtHeader + "eyJ" + randomToken(rng, 600) + "." + randomToken(rng, 342)
		case 2:
			out[i] = "sk-ant-oat01-" + randomToken(rng, 95)
		case 3:
			out[i] = "sk-ant-ort01-" + randomToken(rng, 95)
		case 4:
			out[i] = "sk-or-v1-" + randomToken(rng, 64)
		}
	}
	return out
}

// pad512 repeats filler after s up to 512 bytes.
func pad512(s string) string {
	const filler = " upstream error: rate limit reached for requests per minute, please retry after the reset;"
	for len(s) < 512 {
		s += filler
	}
	return s[:512]
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		tokens := poolTokens(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				New(tokens...)
			}
		})
	}
}

func BenchmarkString(b *testing.B) {
	tokens := poolTokens(10000)
	r := New(tokens...)
	key := tokens[5000] // an sk-proj- key
	for _, bc := range []struct{ name, msg string }{
		{"clean-512", pad512("Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29807, Requested 1200.', 'type': 'tokens', 'code': 'rate_limit_exceeded'}}")},
		{"quoted-key-512", pad512("Error code: 401 - Incorrect API key provided: " + key + ". You can find your API key at https://platform.openai.com/account/api-keys.")},
		{"cut-key-512", pad512("invalid x-api-key " + key[:24] + "… (revoked)")},
		{"unknown-key-512", pad512("Incorrect API key provided: sk-proj-" + strings.Repeat("Zq9x", 39) + ".")},
		{"masked-key-512", pad512("Incorrect API key provided: sk-proj-" + strings.Repeat("*", 152) + "abcd.")},
		{"jwt-512", pad512("refresh failed for " + tokens[1][:400])},
		// Inputs that were quadratic before the shape scanner kept its runs.
		{"repeated-sk-64KiB", strings.Repeat("sk-", 65536/3)},
		{"repeated-eyJ-64KiB", strings.Repeat("eyJ", 65536/3)},
		{"jwt-chain-64KiB", strings.Repeat("eyJAAAAAAAA.xeyJ", 65536/16)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.msg)))
			b.ReportAllocs()
			for b.Loop() {
				r.String(bc.msg)
			}
		})
	}
}

func BenchmarkText(b *testing.B) {
	msg := pad512("Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29807, Requested 1200.'}}")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		Text(msg)
	}
}

// BenchmarkStatus10k is one status of a 10,000-entry pool: the reason and
// message of every entry redacted against all its tokens. One entry in ten
// quotes its key, the rest carry ordinary provider text.
func BenchmarkStatus10k(b *testing.B) {
	tokens := poolTokens(10000)
	r := New(tokens...)
	reasons := make([]string, len(tokens))
	messages := make([]string, len(tokens))
	for i, tok := range tokens {
		reasons[i] = "rate_limit_exceeded"
		messages[i] = "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29807, Requested 1200. Please try again in 2.014s."
		if i%10 == 0 {
			messages[i] = "Incorrect API key provided: " + tok[:min(len(tok), 200)] + "."
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range tokens {
			r.String(reasons[i])
			r.String(messages[i])
		}
	}
}
