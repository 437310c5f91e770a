package quota

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	long := strings.Repeat("9", MaxValueBytes-len(secret)) + secret + "9"
	tooMany := map[string]string{}
	for i := range MaxHeaders + 1 {
		tooMany[fmt.Sprintf("x-header-%d", i)] = secret
	}
	for _, c := range []struct {
		name  string
		m     map[string]string
		want  string // in the error; "" = no error
		never string // never in the error
	}{
		{name: "a real answer passes", m: map[string]string{
			"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s",
			"content-type": "application/json", "authorization": "Bearer " + secret,
		}},
		{name: "exactly at the bounds passes", m: map[string]string{
			"x-ratelimit-remaining-tokens":    strings.Repeat("1", MaxValueBytes),
			strings.Repeat("a", MaxNameBytes): "x",
		}},
		{name: "an unknown header twice in two cases passes", m: map[string]string{"X-Foo": "1", "x-foo": "2"}},
		{name: "too many headers", m: tooMany, want: "65 headers, at most 64"},
		{name: "a known value too long is named", m: map[string]string{"X-Ratelimit-Remaining-Tokens": long},
			want: "header x-ratelimit-remaining-tokens: value is 257 bytes", never: secret},
		{name: "an unknown value too long is not named", m: map[string]string{"Authorization": long},
			want: "an unread header's value is 257 bytes", never: "uthorization"},
		{name: "a name too long", m: map[string]string{strings.Repeat("a", MaxNameBytes) + secret: "1"},
			want: "a header name is", never: secret},
		{name: "a known header twice in two cases", m: map[string]string{"Retry-After": "1", "retry-after": "2"},
			want: "header retry-after given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.m)
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrBadHeaders))
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), secret)
			if c.never != "" {
				assert.NotContains(t, err.Error(), c.never)
			}
		})
	}
}

func TestHeaderFromCopiesOnlyKnownHeaders(t *testing.T) {
	m := map[string]string{
		"x-ratelimit-remaining-tokens":           "0",
		"x-ratelimit-reset-tokens":               "6m0s",
		"ANTHROPIC-RATELIMIT-UNIFIED-STATUS":     "rejected",
		"x-codex-bengalfox-primary-used-percent": "100",
		"authorization":                          "Bearer " + secret,
		"x-api-key":                              secret,
		"cookie":                                 secret,
	}
	h := HeaderFrom(m)
	assert.Len(t, h, 4)
	for k, vs := range h {
		for _, v := range vs {
			assert.NotContains(t, v, secret, "header %s was copied", k)
		}
	}
	assert.Equal(t, "rejected", h.Get("Anthropic-Ratelimit-Unified-Status"))
	assert.Contains(t, h, "X-Codex-Bengalfox-Primary-Used-Percent", "keys are canonical")

	// Parse reads the copy as it reads the response the caller saw.
	assert.Equal(t, Parse(header(
		"x-ratelimit-remaining-tokens", "0",
		"x-ratelimit-reset-tokens", "6m0s",
		"anthropic-ratelimit-unified-status", "rejected",
		"x-codex-bengalfox-primary-used-percent", "100",
	), now), Parse(h, now))
}

func TestHeaderFromIsDeterministic(t *testing.T) {
	m := map[string]string{"retry-after": "9", "Retry-After": "5", "RETRY-AFTER": "7"}
	for range 50 { // map order varies from run to run
		assert.Equal(t, []string{"7"}, HeaderFrom(m)["Retry-After"], "the name that sorts first (RETRY-AFTER) wins")
	}
}

// ParseMap reads a report's map as Parse reads HeaderFrom's http.Header of
// it: the same windows, the same ignored names, the same winner of two
// spellings.
func TestParseMapIsParseOfHeaderFrom(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"openai": {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
			"x-request-id": "req_1", "authorization": "Bearer " + secret},
		"anthropic, canonical names": {"Anthropic-Ratelimit-Unified-Status": "rejected", "Anthropic-Ratelimit-Unified-5h-Utilization": "1",
			"Anthropic-Ratelimit-Unified-5h-Reset": "1780322400", "Anthropic-Ratelimit-Tokens-Reset": "2026-06-01T12:01:00Z"},
		"codex with a model": {"x-codex-bengalfox-primary-used-percent": "99", "x-codex-bengalfox-limit-name": "GPT-5.3-Codex-Spark",
			"x-codex-primary-used-percent": "12", "x-codex-primary-reset-at": "1780318800"},
		"garbage":       {"x-ratelimit-remaining-tokens": "lots", "retry-after": "soon", "retry-after-ms": "-5"},
		"two spellings": {"RETRY-AFTER": "7", "retry-after": "9", "Retry-After": "8"},
		"empty":         {},
	} {
		t.Run(name, func(t *testing.T) {
			want := Parse(HeaderFrom(m), now)
			got := ParseMap(m, now)
			assertWindows(t, want.Windows, got.Windows)
			assert.Equal(t, want.Ignored, got.Ignored)
		})
	}
}
