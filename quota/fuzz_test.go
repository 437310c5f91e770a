package quota

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzParse puts a fuzzed value into one known header of a real answer (and
// under a fuzzed name of its own) and checks what must hold for any input:
// no panic; every window valid, its times finite and after 1970 and before
// 9999; Ignored holds names that were in the input, never anything else;
// the state built from it answers sanely and survives JSON.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct {
		value string
		pick  uint8
		name  string
	}{
		{"6m0s", 0, "x-ratelimit-reset-tokens"},
		{"rejected", 1, "anthropic-ratelimit-unified-status"},
		{"1780322400", 2, "anthropic-ratelimit-unified-7d_opus-reset"},
		{"0.98", 3, "anthropic-ratelimit-unified-5h-utilization"},
		{"100", 4, "x-codex-bengalfox-primary-used-percent"},
		{"GPT-5.3-Codex-Spark", 5, "x-codex-bengalfox-limit-name"},
		{"Mon, 01 Jun 2026 12:01:00 GMT", 6, "retry-after"},
		{"2026-06-01T12:00:01Z", 7, "anthropic-ratelimit-tokens-reset"},
		{"-1e308", 8, "retry-after-ms"},
		{"NaN", 9, "X-RateLimit-Remaining-Tokens"},
		{"2562047h47m16.854775807s", 10, "x-ratelimit-reset-requests"},
		{"99999999999", 11, "x-codex-primary-reset-at"},
		{"seven_day_opus", 12, "anthropic-ratelimit-unified-representative-claim"},
	} {
		f.Add(seed.value, seed.pick, seed.name)
	}
	base := mixedAnswer()
	names := make([]string, 0, len(base))
	for k := range base {
		names = append(names, k)
	}
	slices.Sort(names)

	f.Fuzz(func(t *testing.T, value string, pick uint8, name string) {
		h := base.Clone()
		h[names[int(pick)%len(names)]] = []string{value}
		h[name] = []string{value} // raw: any case, any bytes
		inputNames := map[string]bool{}
		for k := range h {
			inputNames[strings.ToLower(k)] = true
		}

		obs := Parse(h, now)
		for _, ig := range obs.Ignored {
			require.True(t, inputNames[ig], "Ignored holds %q, which is no input name", ig)
		}
		for _, w := range obs.Windows {
			require.NoError(t, w.validate(), "window %+v", w)
			require.Equal(t, t0, w.SeenAt)
			if w.ResetAt != 0 {
				require.False(t, math.IsInf(w.ResetAt, 0) || math.IsNaN(w.ResetAt))
				require.True(t, w.ResetAt > 0 && w.ResetAt < MaxResetAt, "reset %v", w.ResetAt)
			}
		}

		var s State
		s.Apply(obs)
		require.Len(t, s.Windows(), len(obs.Windows))
		until, blocked := s.Blocked(now, 0, "")
		if blocked {
			require.True(t, until > t0 && until < MaxResetAt+NoResetHold.Seconds(), "until %v", until)
		} else {
			require.Zero(t, until)
		}
		frac, _, known := s.Headroom(now, "")
		if known {
			require.True(t, frac >= 0 && frac <= 1, "headroom %v", frac)
		}
		data, err := json.Marshal(&s)
		require.NoError(t, err)
		var back State
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, s.Windows(), back.Windows())
	})
}

// mixedAnswer has a header of every family, as no provider sends but a
// proxy in front of several might.
func mixedAnswer() http.Header {
	h := openAIAnswer()
	for k, v := range subscriptionAnswer() {
		h[k] = v
	}
	for k, v := range header(
		"anthropic-ratelimit-tokens-remaining", "1000",
		"anthropic-ratelimit-tokens-reset", "2026-06-01T12:00:30Z",
		"x-codex-primary-used-percent", "42.5",
		"x-codex-primary-reset-at", "1780333200",
		"x-codex-bengalfox-primary-used-percent", "80",
		"x-codex-bengalfox-limit-name", "GPT-5.3-Codex-Spark",
		"x-codex-secondary-reset-after-seconds", "3600",
		"retry-after", "30",
		"retry-after-ms", "1500",
	) {
		h[k] = v
	}
	return h
}
