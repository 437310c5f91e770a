package main

import (
	"math"
	"slices"
	"time"
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
		st.OpsPerS = round1(float64(len(s)) / window.Seconds())
	}
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	st.P50 = us(quantile(s, 0.50))
	st.P90 = us(quantile(s, 0.90))
	st.P99 = us(quantile(s, 0.99))
	st.P999 = us(quantile(s, 0.999))
	st.Max = us(s[len(s)-1])
	st.Mean = round1(sum / float64(len(s)) / 1e3)
	return st
}

// quantile is the nearest-rank quantile of sorted s.
func quantile(s []int64, q float64) int64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func us(ns int64) float64 { return round1(float64(ns) / 1e3) }

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(a/b*100) / 100
}
