// Package stats is the arithmetic of the figures credpool-bench and
// credpool-sim print: the nearest-rank quantile of sorted samples, and
// rounding to one decimal. One definition, so that a p99 means the same in
// both tools' output (and in docs/BENCHMARKS.md, which quotes both).
package stats

import "math"

// Quantile is the nearest-rank q-quantile (0 < q ≤ 1) of sorted: the
// smallest sample with at least q of the samples at or below it. It is the
// zero value when sorted is empty.
func Quantile[T ~int64 | ~float64](sorted []T, q float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Round1 rounds x to one decimal.
func Round1(x float64) float64 { return math.Round(x*10) / 10 }
