package pool

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func benchPool(b *testing.B, n int, strat Strategy) (*Pool, *clock) {
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = ent(fmt.Sprintf("%06x", i), i)
	}
	return newTest(b, Config{DefaultStrategy: strat}, map[string][]Entry{prov: entries})
}

func BenchmarkSelect(b *testing.B) {
	for _, strat := range []Strategy{FillFirst, RoundRobin, LeastUsed, Random} {
		for _, n := range []int{10, 1000, 10000} {
			if strat == RoundRobin && n == 10000 {
				continue // renumbers every priority on every select: O(n) by design
			}
			b.Run(fmt.Sprintf("%s/%d", strat, n), func(b *testing.B) {
				p, _ := benchPool(b, n, strat)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Select(prov, SelectOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	// The worst case of fill_first: every entry but the last is cooling.
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("fill_first_last_available/%d", n), func(b *testing.B) {
			p, _ := benchPool(b, n, FillFirst)
			for _, e := range p.pools[prov].byPrio[:n-1] {
				e.StatusFields = StatusFields{LastStatus: StatusExhausted, LastStatusAt: epochOf(t0), LastErrorCode: 429}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Select(prov, SelectOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("fill_first_lease/%d", n), func(b *testing.B) {
			p, _ := benchPool(b, n, FillFirst)
			b.ReportAllocs()
			for b.Loop() {
				s, err := p.Select(prov, SelectOptions{Lease: true})
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Release(s.Lease.ID)
			}
		})
	}
}

// BenchmarkReport reports a 429 on the first entry again and again; the
// clock moves past the cooldown each time so every report is a fresh
// transition, and the next credential is the second entry.
func BenchmarkReport(b *testing.B) {
	for _, by := range []string{"id", "hint"} {
		for _, n := range []int{10, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", by, n), func(b *testing.B) {
				p, c := benchPool(b, n, FillFirst)
				r := Report{CredentialID: "000000", StatusCode: 429, Reason: "rate_limit_exceeded"}
				if by == "hint" {
					r = Report{APIKeyHint: tok(fmt.Sprintf("%06x", n-1)), StatusCode: 429}
				}
				b.ReportAllocs()
				for b.Loop() {
					c.advance(2 * time.Hour)
					res, err := p.Report(prov, r)
					if err != nil || res.Marked == nil || res.Next == nil {
						b.Fatal(err, res)
					}
				}
			})
		}
	}
}

// BenchmarkSelectModel selects for a model on 1,000 entries that each hold
// 5 model cooldowns (issue 11: under 2 µs, at most 2 allocations).
//   - other_models: the cooldowns are for other models than the one
//     selected, the common case (a key benched for opus serves sonnet);
//     fill_first hands out the first entry after one map lookup.
//   - same_model_but_last: the worst case, every entry but the last is
//     benched for the selected model, so the scan looks at all 1,000.
//   - headroom_quota: the headroom strategy, every entry with quota
//     readings of 2 windows, cooldowns for other models: headroom ranks
//     every entry, so it is O(n) like least_used.
func BenchmarkSelectModel(b *testing.B) {
	const n, model = 1000, "claude-sonnet-4-5"
	others := []string{"claude-opus-4-1", "claude-haiku-4-5", "claude-3-7-sonnet", "gpt-5", "o3"}
	setup := func(b *testing.B, strat Strategy, benched func(i int) []string) *Pool {
		p, c := benchPool(b, n, strat)
		now := epochOf(c.Now())
		for i, e := range p.pools[prov].byPrio {
			for _, m := range benched(i) {
				e.setModelCooldown(m, now+3600, now)
			}
			require.Len(b, e.ModelCooldowns, 5)
		}
		return p
	}
	run := func(b *testing.B, p *Pool) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Select(prov, SelectOptions{Model: model}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("other_models/1000", func(b *testing.B) {
		run(b, setup(b, FillFirst, func(int) []string { return others }))
	})
	b.Run("same_model_but_last/1000", func(b *testing.B) {
		withSelected := append([]string{model}, others[:4]...)
		run(b, setup(b, FillFirst, func(i int) []string {
			if i == n-1 {
				return others
			}
			return withSelected
		}))
	})
	b.Run("headroom_quota/1000", func(b *testing.B) {
		p := setup(b, Headroom, func(int) []string { return others })
		for i, e := range p.pools[prov].byPrio {
			_, err := p.Report(prov, Report{CredentialID: e.ID, StatusCode: 200, Headers: map[string]string{
				"anthropic-ratelimit-requests-limit": "1000", "anthropic-ratelimit-requests-remaining": strconv.Itoa(10 + i%900),
				"anthropic-ratelimit-tokens-limit": "80000", "anthropic-ratelimit-tokens-remaining": "60000"}})
			require.NoError(b, err)
		}
		run(b, p)
	})
}

// BenchmarkReportHeaders is a 200 report carrying 20 rate-limit headers
// (the set credpool-bench's --header-reports sends) against one with none.
func BenchmarkReportHeaders(b *testing.B) {
	for _, with := range []bool{false, true} {
		name := "none"
		if with {
			name = "20_headers"
		}
		b.Run(name, func(b *testing.B) {
			p, c := benchPool(b, 10, FillFirst)
			var h map[string]string
			if with {
				reset := c.Now().Add(time.Minute).UTC().Format(time.RFC3339)
				h = map[string]string{
					"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms",
					"x-ratelimit-limit-tokens": "2000000", "x-ratelimit-remaining-tokens": "1999000", "x-ratelimit-reset-tokens": "30ms",
					"anthropic-ratelimit-unified-status": "allowed", "anthropic-ratelimit-unified-reset": strconv.FormatInt(c.Now().Add(5*time.Hour).Unix(), 10),
				}
				for _, w := range []string{"requests", "tokens", "input-tokens", "output-tokens"} {
					h["anthropic-ratelimit-"+w+"-limit"], h["anthropic-ratelimit-"+w+"-remaining"] = "400000", "399000"
					h["anthropic-ratelimit-"+w+"-reset"] = reset
				}
				require.Len(b, h, 20)
			}
			r := Report{CredentialID: "000000", StatusCode: 200, Headers: h}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Report(prov, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
