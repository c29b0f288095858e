package metrics

import (
	"slices"
	"testing"
)

func TestBuckets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi float64
		want   []float64
	}{
		{"sub-millisecond", 100e-6, 1e-3, []float64{0.0001, 0.00025, 0.0005, 0.001}},
		{"bounds off the series", 3e-3, 0.3, []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25}},
		{"counts", 1, 50, []float64{1, 2.5, 5, 10, 25, 50}},
		{"one edge", 25, 25, []float64{25}},
		{"none", 6, 9, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Buckets(tc.lo, tc.hi); !slices.Equal(got, tc.want) {
				t.Errorf("Buckets(%g, %g) = %v, want %v", tc.lo, tc.hi, got, tc.want)
			}
		})
	}
	if n := len(DurationBuckets); n != 18 || DurationBuckets[0] != 0.0001 || DurationBuckets[n-1] != 50 {
		t.Errorf("DurationBuckets = %v, want 18 edges from 0.0001 to 50", DurationBuckets)
	}
}
