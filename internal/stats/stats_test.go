package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQuantile(t *testing.T) {
	ten := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		sorted []int64
		q      float64
		want   int64
	}{
		{"median of ten is the 5th", ten, 0.5, 5},
		{"p90 of ten is the 9th", ten, 0.9, 9},
		{"p99 of ten is the largest", ten, 0.99, 10},
		{"p100 is the largest", ten, 1, 10},
		{"a tiny q is the smallest", ten, 0.001, 1},
		{"q 0 is the smallest, not out of range", ten, 0, 1},
		{"q past 1 is the largest, not out of range", ten, 1.5, 10},
		{"one sample", []int64{7}, 0.5, 7},
		{"none", nil, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Quantile(tc.sorted, tc.q))
		})
	}
	// A named slice type, as the bench's samples are.
	type samples []float64
	assert.Equal(t, 2.5, Quantile(samples{0.5, 2.5, 4}, 0.5))
}

func TestRound1(t *testing.T) {
	for x, want := range map[float64]float64{1.24: 1.2, 1.25: 1.3, -1.25: -1.3, 0.04: 0, 12345.67: 12345.7} {
		assert.Equal(t, want, Round1(x), "Round1(%v)", x)
	}
}
