package api

import (
	"math"
	"sync"
	"time"
)

// Window keeps the last minute of successful appends, one slot a second:
// how many ended in it and a histogram of how long they took. It is pure:
// the time comes in as an argument. Not safe for concurrent use.
type Window struct {
	slots [60]slot
}

type slot struct {
	sec  int64 // the Unix second the slot counts; older content is stale
	n    uint64
	hist [latencyBuckets]uint32
}

// Latency buckets grow by a quarter from 50 µs: bucket i holds latencies
// up to 50µs × 1.25^i, so a quantile is off by at most a quarter; the
// last bucket takes everything longer (about 80 s and up).
const latencyBuckets = 64

func bucketOf(d time.Duration) int {
	if d <= 50*time.Microsecond {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(50*time.Microsecond)) / math.Log(1.25)))
	return min(i, latencyBuckets-1)
}

func bucketBound(i int) time.Duration {
	return time.Duration(float64(50*time.Microsecond) * math.Pow(1.25, float64(i)))
}

// Observe records an append that ended at now after took.
func (w *Window) Observe(now time.Time, took time.Duration) {
	sec := now.Unix()
	s := &w.slots[sec%int64(len(w.slots))]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.n++
	s.hist[bucketOf(took)]++
}

// RateSeconds is how far back the append rate looks: short enough to
// follow a person's clicks, long enough to be steady under load.
const RateSeconds = 5

// Summary is the rate of appends per second over the last RateSeconds
// whole seconds before now, and the median and 99th percentile latency of
// the last minute (zero when there were none).
func (w *Window) Summary(now time.Time) (perSecond float64, p50, p99 time.Duration) {
	sec := now.Unix()
	var hist [latencyBuckets]uint64
	var total, recent uint64
	for _, s := range w.slots {
		if s.sec <= sec-int64(len(w.slots)) || s.sec > sec {
			continue // stale, or from a clock that went back
		}
		if s.sec < sec && s.sec >= sec-RateSeconds {
			recent += s.n
		}
		total += s.n
		for i, c := range s.hist {
			hist[i] += uint64(c)
		}
	}
	if total == 0 {
		return 0, 0, 0
	}
	quantile := func(q float64) time.Duration {
		rank := uint64(math.Ceil(q * float64(total)))
		var seen uint64
		for i, c := range hist {
			if seen += c; seen >= rank {
				return bucketBound(i)
			}
		}
		return bucketBound(latencyBuckets - 1)
	}
	return float64(recent) / RateSeconds, quantile(0.5), quantile(0.99)
}

// recentAppends is a Window behind a mutex, for the append handlers.
type recentAppends struct {
	mu sync.Mutex
	w  Window // guarded by mu
}

func (r *recentAppends) observe(took time.Duration) {
	now := time.Now()
	r.mu.Lock()
	r.w.Observe(now, took)
	r.mu.Unlock()
}

func (r *recentAppends) summary() (perSecond float64, p50, p99 time.Duration) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Summary(now)
}
