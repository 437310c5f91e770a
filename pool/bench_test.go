package pool

import (
	"fmt"
	"testing"
	"time"
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
