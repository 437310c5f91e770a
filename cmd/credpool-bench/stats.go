package main

import (
	"math"
	"slices"
	"time"

	"github.com/credpool/credpool/internal/stats"
)

// samples are latencies of one operation in nanoseconds. Every sample is
// kept and sorted at the end: a run of a few million operations is tens of
// MB at most, and exact percentiles need no bucket maths.
type samples []int64

// opStats is one operation's summary; its JSON form is what --json prints
// per operation.
type opStats struct {
	Count   int     `json:"count"`
	OpsPerS float64 `json:"ops_per_s"`
	P50     float64 `json:"p50_us"`
	P90     float64 `json:"p90_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
	Mean    float64 `json:"mean_us"`
}

func summarize(s samples, window time.Duration) opStats {
	st := opStats{Count: len(s)}
	if len(s) == 0 {
		return st
	}
	slices.Sort(s)
	if window > 0 {
		st.OpsPerS = stats.Round1(float64(len(s)) / window.Seconds())
	}
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	st.P50 = us(stats.Quantile(s, 0.50))
	st.P90 = us(stats.Quantile(s, 0.90))
	st.P99 = us(stats.Quantile(s, 0.99))
	st.P999 = us(stats.Quantile(s, 0.999))
	st.Max = us(s[len(s)-1])
	st.Mean = stats.Round1(sum / float64(len(s)) / 1e3)
	return st
}

func us(ns int64) float64 { return stats.Round1(float64(ns) / 1e3) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(a/b*100) / 100
}
