package quota

import (
	"fmt"
	"net/http"
	"testing"
)

// openAIAnswer is a 20-header answer as api.openai.com sends it on a 200.
func openAIAnswer() http.Header {
	return header(
		"content-type", "application/json",
		"date", "Mon, 01 Jun 2026 12:00:00 GMT",
		"server", "cloudflare",
		"alt-svc", `h3=":443"; ma=86400`,
		"cf-cache-status", "DYNAMIC",
		"cf-ray", "94f5a0c1d2e3f4a5-AMS",
		"strict-transport-security", "max-age=31536000; includeSubDomains; preload",
		"openai-organization", "user-abc123",
		"openai-processing-ms", "749",
		"openai-version", "2020-10-01",
		"x-request-id", "req_7dda31bb54cc0faf7bd946d0c05659e8",
		"x-ratelimit-limit-requests", "5000",
		"x-ratelimit-limit-tokens", "160000",
		"x-ratelimit-limit-tokens_usage_based", "160000",
		"x-ratelimit-remaining-requests", "4999",
		"x-ratelimit-remaining-tokens", "158866",
		"x-ratelimit-remaining-tokens_usage_based", "158866",
		"x-ratelimit-reset-requests", "12ms",
		"x-ratelimit-reset-tokens", "16m17.764s",
		"x-ratelimit-reset-tokens_usage_based", "425ms",
	)
}

// subscriptionAnswer is a 20-header answer to a Claude subscription token.
func subscriptionAnswer() http.Header {
	return header(
		"content-type", "application/json",
		"date", "Mon, 01 Jun 2026 12:00:00 GMT",
		"request-id", "req_011CQ",
		"anthropic-organization-id", "0f0e0d0c-0b0a-0908-0706-050403020100",
		"via", "1.1 google",
		"cf-ray", "94f5a0c1d2e3f4a5-AMS",
		"anthropic-ratelimit-unified-status", "allowed_warning",
		"anthropic-ratelimit-unified-reset", "1780322400",
		"anthropic-ratelimit-unified-representative-claim", "five_hour",
		"anthropic-ratelimit-unified-fallback-percentage", "0.5",
		"anthropic-ratelimit-unified-overage-status", "rejected",
		"anthropic-ratelimit-unified-overage-disabled-reason", "org_level_disabled",
		"anthropic-ratelimit-unified-5h-status", "allowed_warning",
		"anthropic-ratelimit-unified-5h-reset", "1780322400",
		"anthropic-ratelimit-unified-5h-utilization", "0.93",
		"anthropic-ratelimit-unified-7d-status", "allowed",
		"anthropic-ratelimit-unified-7d-reset", "1780834800",
		"anthropic-ratelimit-unified-7d-utilization", "0.41",
		"anthropic-ratelimit-unified-7d_sonnet-utilization", "0.12",
		"anthropic-ratelimit-unified-7d_sonnet-reset", "1780834800",
	)
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		name string
		h    http.Header
	}{{"openai-20-headers", openAIAnswer()}, {"anthropic-unified-20-headers", subscriptionAnswer()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Parse(c.h, now)
			}
		})
	}
}

func BenchmarkBlocked5Windows(b *testing.B) {
	s := fiveWindows()
	b.ReportAllocs()
	for b.Loop() {
		s.Blocked(now, 0, "claude-sonnet-4-5")
	}
}

func BenchmarkHeadroom5Windows(b *testing.B) {
	s := fiveWindows()
	b.ReportAllocs()
	for b.Loop() {
		s.Headroom(now, "claude-sonnet-4-5")
	}
}

// BenchmarkSelect1000 is what a headroom selection costs on a 1,000-entry
// pool: Blocked and Headroom for every entry, keeping the best.
func BenchmarkSelect1000(b *testing.B) {
	states := make([]*State, 1000)
	for i := range states {
		s := fiveWindows()
		s.Apply(Parse(header("x-codex-primary-used-percent", fmt.Sprint(i%100)), now))
		states[i] = s
	}
	b.ReportAllocs()
	for b.Loop() {
		best, bestRoom := -1, Room{}
		for i, s := range states {
			if _, blocked := s.Blocked(now, 0, "claude-sonnet-4-5"); blocked {
				continue
			}
			f, r, k := s.Headroom(now, "claude-sonnet-4-5")
			if room := (Room{f, r, k}); best < 0 || Better(room, bestRoom) {
				best, bestRoom = i, room
			}
		}
	}
}
