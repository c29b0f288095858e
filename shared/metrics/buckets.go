package metrics

import (
	"math"
	"strconv"
)

// Buckets are histogram edges from the 1-2.5-5 series (…, 0.001,
// 0.0025, 0.005, 0.01, …) between lo and hi, both included when on the
// series. Each edge is the float64 nearest its decimal, so it prints as
// written ("0.00025", not "0.00024999999999999995") and a dashboard's
// axis reads as round numbers, which exponential edges never do.
func Buckets(lo, hi float64) []float64 {
	var out []float64
	for exp := int(math.Floor(math.Log10(lo))); ; exp++ {
		for _, m := range []string{"1", "2.5", "5"} {
			v, _ := strconv.ParseFloat(m+"e"+strconv.Itoa(exp), 64) // always a number
			if v > hi {
				return out
			}
			if v >= lo {
				out = append(out, v)
			}
		}
	}
}

// DurationBuckets are the edges of replog's latency histograms: 100 µs
// to 50 s, wider than any default timeout (a long-poll waits at most a
// minute; beyond 50 s it falls in +Inf).
var DurationBuckets = Buckets(100e-6, 50)
