package quota

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type parseCase struct {
	name    string
	h       http.Header
	want    []Window
	ignored []string
}

// runParse checks each case and that garbage never blocks: a case whose
// windows are all expected to be empty must leave a State unblocked.
func runParse(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs := Parse(c.h, now)
			assertWindows(t, c.want, obs.Windows)
			assert.Equal(t, c.ignored, obs.Ignored)
			assert.NotContains(t, fmt.Sprintf("%+v", obs), secret, "a secret value came back out")
			for _, name := range obs.Ignored {
				for _, vs := range c.h {
					for _, v := range vs {
						if len(v) > 3 {
							assert.NotContains(t, name, v, "an ignored name carries a value")
						}
					}
				}
			}
		})
	}
}

// withAuthorization adds the request header a careless client passes along.
func withAuthorization(h http.Header) http.Header {
	h.Set("Authorization", "Bearer "+secret)
	return h
}

func TestParseOpenAI(t *testing.T) {
	runParse(t, []parseCase{{
		name: "200 with usage-based variants (as api.openai.com sends)",
		h:    withAuthorization(openAIAnswer()),
		want: []Window{
			win("openai/requests", rem(4999), lim(5000), reset(after(12*time.Millisecond))),
			win("openai/tokens", rem(158866), lim(160000), reset(after(16*time.Minute+17764*time.Millisecond))),
			win("openai/tokens_usage_based", rem(158866), lim(160000), reset(after(425*time.Millisecond))),
		},
	}, {
		name: "every duration shape",
		h: header(
			"x-ratelimit-remaining-requests", "197", "x-ratelimit-reset-requests", "16m17.764s",
			"x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6m0s",
			"x-ratelimit-remaining-requests_usage_based", "1", "x-ratelimit-reset-requests_usage_based", "2h3m4.5s",
			"x-ratelimit-remaining-tokens_usage_based", "2", "x-ratelimit-reset-tokens_usage_based", "0.5s",
		),
		want: []Window{
			win("openai/requests", rem(197), reset(after(16*time.Minute+17764*time.Millisecond))),
			win("openai/requests_usage_based", rem(1), reset(after(2*time.Hour+3*time.Minute+4500*time.Millisecond))),
			win("openai/tokens", rem(0), reset(after(6*time.Minute))),
			win("openai/tokens_usage_based", rem(2), reset(after(500*time.Millisecond))),
		},
	}, {
		name: "only a remaining; a reset alone is no window",
		h:    header("x-ratelimit-remaining-requests", "3", "x-ratelimit-reset-tokens", "1s"),
		want: []Window{win("openai/requests", rem(3))},
	}, {
		name: "no rate-limit headers at all",
		h:    header("content-type", "application/json", "date", "Mon, 01 Jun 2026 12:00:00 GMT", "cookie", secret),
	}, {
		name: "garbage values are ignored by name",
		h: header(
			"x-ratelimit-limit-requests", "-5",
			"x-ratelimit-remaining-requests", "lots "+secret,
			"x-ratelimit-reset-requests", "soon",
			"x-ratelimit-limit-tokens", "Inf",
			"x-ratelimit-remaining-tokens", "NaN",
			"x-ratelimit-reset-tokens", "-1s",
			"x-ratelimit-remaining-tokens_usage_based", "1e400",
			"x-ratelimit-reset-tokens_usage_based", "9999999999h",
		),
		ignored: []string{
			"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
			"x-ratelimit-remaining-tokens", "x-ratelimit-remaining-tokens_usage_based",
			"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset-tokens_usage_based",
		},
	}, {
		name:    "a reset that overflows a duration is garbage, the remaining still counts",
		h:       header("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "2562048h"),
		want:    []Window{win("openai/tokens", rem(0))},
		ignored: []string{"x-ratelimit-reset-tokens"},
	}, {
		name:    "a value over MaxValueBytes is garbage",
		h:       header("x-ratelimit-remaining-tokens", strings.Repeat("1", MaxValueBytes+1)),
		ignored: []string{"x-ratelimit-remaining-tokens"},
	}})
}

func TestParseAnthropicAPIKey(t *testing.T) {
	runParse(t, []parseCase{{
		name: "200 with all four windows",
		h: header(
			"anthropic-ratelimit-requests-limit", "50",
			"anthropic-ratelimit-requests-remaining", "49",
			"anthropic-ratelimit-requests-reset", "2026-06-01T12:00:01Z",
			"anthropic-ratelimit-tokens-limit", "48000",
			"anthropic-ratelimit-tokens-remaining", "48000",
			"anthropic-ratelimit-tokens-reset", "2026-06-01T12:00:00Z",
			"anthropic-ratelimit-input-tokens-limit", "40000",
			"anthropic-ratelimit-input-tokens-remaining", "40000",
			"anthropic-ratelimit-input-tokens-reset", "2026-06-01T12:00:00.5Z",
			"anthropic-ratelimit-output-tokens-limit", "8000",
			"anthropic-ratelimit-output-tokens-remaining", "0",
			"anthropic-ratelimit-output-tokens-reset", "2026-06-01T14:00:00+02:00",
			"request-id", "req_011CQ",
			"x-api-key", secret,
		),
		want: []Window{
			win("anthropic/input-tokens", rem(40000), lim(40000), reset(after(500*time.Millisecond))),
			win("anthropic/output-tokens", rem(0), lim(8000), reset(t0)),
			win("anthropic/requests", rem(49), lim(50), reset(after(time.Second))),
			win("anthropic/tokens", rem(48000), lim(48000), reset(t0)),
		},
	}, {
		name: "resets out of range, not RFC 3339, or epoch seconds are garbage",
		h: header(
			"anthropic-ratelimit-requests-remaining", "0",
			"anthropic-ratelimit-requests-reset", "0001-01-01T00:00:00Z",
			"anthropic-ratelimit-tokens-remaining", "10",
			"anthropic-ratelimit-tokens-reset", "9999-12-31T23:59:59.5Z",
			"anthropic-ratelimit-input-tokens-remaining", "10",
			"anthropic-ratelimit-input-tokens-reset", "1780315260",
			"anthropic-ratelimit-output-tokens-remaining", "10",
			"anthropic-ratelimit-output-tokens-reset", "tomorrow",
		),
		want: []Window{
			win("anthropic/input-tokens", rem(10)),
			win("anthropic/output-tokens", rem(10)),
			win("anthropic/requests", rem(0)),
			win("anthropic/tokens", rem(10)),
		},
		ignored: []string{
			"anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-output-tokens-reset",
			"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset",
		},
	}})
}

func TestParseAnthropicUnified(t *testing.T) {
	r5h, r7d := 1780322400.0, 1780834800.0 // +2h, +6d
	runParse(t, []parseCase{{
		name: "allowed 200 with model-scoped weekly windows and overage",
		h: header(
			"anthropic-ratelimit-unified-status", "allowed",
			"anthropic-ratelimit-unified-reset", "1780322400",
			"anthropic-ratelimit-unified-representative-claim", "five_hour",
			"anthropic-ratelimit-unified-5h-status", "allowed",
			"anthropic-ratelimit-unified-5h-reset", "1780322400",
			"anthropic-ratelimit-unified-5h-utilization", "0.25",
			"anthropic-ratelimit-unified-7d-status", "allowed_warning",
			"anthropic-ratelimit-unified-7d-reset", "1780834800",
			"anthropic-ratelimit-unified-7d-utilization", "0.91",
			"anthropic-ratelimit-unified-7d_sonnet-utilization", "0.71",
			"anthropic-ratelimit-unified-7d_sonnet-reset", "1780834800",
			"anthropic-ratelimit-unified-overage-status", "rejected",
			"anthropic-ratelimit-unified-overage-disabled-reason", "org_level_disabled",
			"anthropic-ratelimit-unified-overage-utilization", "1.0",
			"anthropic-ratelimit-unified-fallback-percentage", "0.5",
		),
		want: []Window{
			win("anthropic-unified/5h", util(0.25), reset(r5h)),
			win("anthropic-unified/7d", util(0.91), reset(r7d)),
			win("anthropic-unified/7d_sonnet", model("sonnet"), util(0.71), reset(r7d)),
			win("anthropic-unified/status", reset(r5h)),
		},
	}, {
		name: "rejected on a 200 is an exhaustion until the unified reset",
		h: header(
			"anthropic-ratelimit-unified-status", "rejected",
			"anthropic-ratelimit-unified-reset", "1780322400",
			"anthropic-ratelimit-unified-5h-utilization", "0.92",
			"anthropic-ratelimit-unified-7d-utilization", "0.34",
		),
		want: []Window{
			win("anthropic-unified/5h", util(0.92)),
			win("anthropic-unified/7d", util(0.34)),
			win("anthropic-unified/status", exhausted(), reset(r5h)),
		},
	}, {
		name: "rejected without a unified reset takes the earliest rejected window's",
		h: header(
			"anthropic-ratelimit-unified-status", "rejected",
			"anthropic-ratelimit-unified-5h-status", "rejected",
			"anthropic-ratelimit-unified-5h-reset", "1780322400",
			"anthropic-ratelimit-unified-7d-status", "rejected",
			"anthropic-ratelimit-unified-7d-reset", "1780834800",
			"anthropic-ratelimit-unified-7d_opus-status", "allowed",
			"anthropic-ratelimit-unified-7d_opus-reset", "1780318800",
		),
		want: []Window{
			win("anthropic-unified/5h", exhausted(), reset(r5h)),
			win("anthropic-unified/7d", exhausted(), reset(r7d)),
			win("anthropic-unified/7d_opus", model("opus"), reset(1780318800)),
			win("anthropic-unified/status", exhausted(), reset(r5h)),
		},
	}, {
		name: "rejected with no rejected window takes the claimed window's reset",
		h: header(
			"anthropic-ratelimit-unified-status", "rejected",
			"anthropic-ratelimit-unified-representative-claim", "seven_day",
			"anthropic-ratelimit-unified-7d-utilization", "1",
			"anthropic-ratelimit-unified-7d-reset", "1780834800",
		),
		want: []Window{
			win("anthropic-unified/7d", util(1), reset(r7d)),
			win("anthropic-unified/status", exhausted(), reset(r7d)),
		},
	}, {
		name: "rejected with no reset anywhere has none",
		h:    header("anthropic-ratelimit-unified-status", "rejected"),
		want: []Window{win("anthropic-unified/status", exhausted())},
	}, {
		name: "garbage values are ignored by name",
		h: header(
			"anthropic-ratelimit-unified-status", "maybe",
			"anthropic-ratelimit-unified-reset", "-1",
			"anthropic-ratelimit-unified-representative-claim", "Five Hour!",
			"anthropic-ratelimit-unified-5h-utilization", "1.5",
			"anthropic-ratelimit-unified-5h-reset", "0",
			"anthropic-ratelimit-unified-5h-status", "Rejected "+secret,
			"anthropic-ratelimit-unified-7d-utilization", "NaN",
			"anthropic-ratelimit-unified-7d-reset", "1e20",
		),
		ignored: []string{
			"anthropic-ratelimit-unified-5h-reset", "anthropic-ratelimit-unified-5h-status",
			"anthropic-ratelimit-unified-5h-utilization", "anthropic-ratelimit-unified-7d-reset",
			"anthropic-ratelimit-unified-7d-utilization", "anthropic-ratelimit-unified-representative-claim",
			"anthropic-ratelimit-unified-reset", "anthropic-ratelimit-unified-status",
		},
	}})
}

func TestParseCodex(t *testing.T) {
	rp, rs := 1780333200.0, 1780920000.0 // +5h, +7d
	runParse(t, []parseCase{{
		name: "primary and secondary windows (window-minutes is not read)",
		h: header(
			"x-codex-primary-used-percent", "42.5",
			"x-codex-primary-window-minutes", "300",
			"x-codex-primary-reset-at", "1780333200",
			"x-codex-secondary-used-percent", "13",
			"x-codex-secondary-window-minutes", "10080",
			"x-codex-secondary-reset-at", "1780920000",
			"x-codex-credits-has-credits", "false",
			"x-codex-limit-name", "Codex",
		),
		want: []Window{
			win("codex/primary", util(0.425), reset(rp)),
			win("codex/secondary", util(0.13), reset(rs)),
		},
	}, {
		name: "reset-after-seconds, and reset-at wins over it",
		h: header(
			"x-codex-primary-used-percent", "100",
			"x-codex-primary-reset-after-seconds", "3600",
			"x-codex-secondary-used-percent", "50",
			"x-codex-secondary-reset-after-seconds", "60",
			"x-codex-secondary-reset-at", "1780920000",
		),
		want: []Window{
			win("codex/primary", util(1), reset(after(time.Hour))),
			win("codex/secondary", util(0.5), reset(rs)),
		},
	}, {
		name: "a per-model family is scoped to the model its limit-name names",
		h: header(
			"x-codex-primary-used-percent", "40",
			"x-codex-bengalfox-primary-used-percent", "100",
			"x-codex-bengalfox-primary-reset-at", "1780333200",
			"x-codex-bengalfox-secondary-used-percent", "20",
			"x-codex-bengalfox-limit-name", "GPT-5.3-Codex-Spark",
			"x-codex-active-limit", "codex_bengalfox",
			"x-codex-rate-limit-reached-type", "rate_limit_reached",
			"X-Base-Model-Inference-Limit-Name", "gpt-reserve",
			"X-Base-Model-Inference-Primary-Used-Percent", "14",
		),
		want: []Window{
			win("base_model_inference/primary", model("gpt-reserve"), util(0.14)),
			win("codex/primary", util(0.4)),
			win("codex_bengalfox/primary", model("gpt-5.3-codex-spark"), util(1), reset(rp)),
			win("codex_bengalfox/secondary", model("gpt-5.3-codex-spark"), util(0.2)),
		},
	}, {
		name: "a per-model family without a name counts for every model",
		h:    header("x-codex-other-primary-used-percent", "99"),
		want: []Window{win("codex_other/primary", util(0.99))},
	}, {
		name: "garbage values are ignored by name",
		h: header(
			"x-codex-primary-used-percent", "150",
			"x-codex-primary-reset-at", "1e20",
			"x-codex-secondary-used-percent", "-1",
			"x-codex-secondary-reset-after-seconds", "soon",
			"x-codex-bengalfox-primary-used-percent", "abc",
			"x-codex-bengalfox-limit-name", "bad name! "+secret,
		),
		ignored: []string{
			"x-codex-bengalfox-limit-name", "x-codex-bengalfox-primary-used-percent",
			"x-codex-primary-reset-at", "x-codex-primary-used-percent",
			"x-codex-secondary-reset-after-seconds", "x-codex-secondary-used-percent",
		},
	}, {
		name: "malformed family names are not Codex headers",
		h: header(
			"x--primary-used-percent", "100",
			"x-codex--x-primary-used-percent", "100",
			"x-codex_x-primary-used-percent", "100",
			"x-primary-used-percent", "100",
		),
	}})
}

func TestParseRetryAfter(t *testing.T) {
	runParse(t, []parseCase{{
		name: "delta seconds",
		h:    header("retry-after", "30"),
		want: []Window{win("http/retry-after", exhausted(), reset(after(30*time.Second)))},
	}, {
		name: "HTTP-date",
		h:    header("Retry-After", "Mon, 01 Jun 2026 12:01:00 GMT"),
		want: []Window{win("http/retry-after", exhausted(), reset(after(time.Minute)))},
	}, {
		name: "retry-after-ms wins over retry-after",
		h:    header("retry-after", "2", "retry-after-ms", "1500"),
		want: []Window{win("http/retry-after", exhausted(), reset(after(1500*time.Millisecond)))},
	}, {
		name:    "garbage",
		h:       header("retry-after", "soon", "retry-after-ms", "-3"),
		ignored: []string{"retry-after", "retry-after-ms"},
	}})
}

func TestParseNamesAreCaseInsensitive(t *testing.T) {
	want := []Window{win("openai/tokens", rem(7)), win("anthropic-unified/5h", util(0.5))}
	for _, name := range []string{"x-ratelimit-remaining-tokens", "X-RATELIMIT-REMAINING-TOKENS", "X-Ratelimit-Remaining-Tokens"} {
		for _, uname := range []string{"anthropic-ratelimit-unified-5h-utilization", "ANTHROPIC-RATELIMIT-UNIFIED-5H-UTILIZATION"} {
			// A hand-built map keeps the case it was given; Parse must not care.
			obs := Parse(http.Header{name: {"7"}, uname: {"0.5"}}, now)
			assertWindows(t, []Window{want[1], want[0]}, obs.Windows)
		}
	}
}

// Every known header is listed in Ignored under its lower-case name when
// its value is garbage, whatever case it came in: the caller logs names it
// can grep for.
func TestParseCodexNamesAreCaseInsensitive(t *testing.T) {
	obs := Parse(http.Header{
		"X-CODEX-BENGALFOX-PRIMARY-USED-PERCENT": {"100"},
		"x-Codex-BengalFox-Limit-NAME":           {"gpt-5.3-codex-spark"},
	}, now)
	assertWindows(t, []Window{win("codex_bengalfox/primary", model("gpt-5.3-codex-spark"), util(1))}, obs.Windows)
}

func TestParseIgnoredNamesAreLowerCase(t *testing.T) {
	obs := Parse(http.Header{"X-Codex-Bengalfox-Primary-Used-Percent": {"x"}, "RETRY-AFTER": {"x"}}, now)
	assert.Equal(t, []string{"retry-after", "x-codex-bengalfox-primary-used-percent"}, obs.Ignored)
}

func TestParseTakesTheFirstValue(t *testing.T) {
	h := http.Header{"X-Ratelimit-Remaining-Tokens": {"5", "0"}}
	assertWindows(t, []Window{win("openai/tokens", rem(5))}, Parse(h, now).Windows)
}

func TestGarbageNeverBlocks(t *testing.T) {
	h := header(
		"x-ratelimit-remaining-tokens", "-1",
		"x-ratelimit-limit-tokens", "NaN",
		"anthropic-ratelimit-unified-status", "denied",
		"anthropic-ratelimit-unified-5h-utilization", "99",
		"x-codex-primary-used-percent", "Inf",
		"retry-after", "-30",
		"retry-after-ms", "1e309",
	)
	obs := Parse(h, now)
	require.Len(t, obs.Ignored, 7, "ignored: %v", obs.Ignored)
	s := stateOf(obs.Windows...)
	_, blocked := s.Blocked(now, 0, "")
	assert.False(t, blocked, "garbage blocked: %+v", obs.Windows)
}
