package api

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var w Window
	if rate, p50, p99 := w.Summary(t0); rate != 0 || p50 != 0 || p99 != 0 {
		t.Fatalf("empty window: %v %v %v", rate, p50, p99)
	}
	// 10 appends a second for 5 seconds: 98 of 1 ms, 2 of 1 s.
	for s := range 5 {
		for i := range 10 {
			took := time.Millisecond
			if s == 4 && i >= 8 {
				took = time.Second
			}
			w.Observe(t0.Add(time.Duration(s)*time.Second), took)
		}
	}
	rate, p50, p99 := w.Summary(t0.Add(5 * time.Second))
	if rate != 10 {
		t.Errorf("rate %v, want 10 a second", rate)
	}
	within := func(got, want time.Duration) bool { return got >= want && got <= want*5/4+1 }
	if !within(p50, time.Millisecond) || !within(p99, time.Second) {
		t.Errorf("p50 %v, p99 %v; want about 1ms and 1s (buckets are a quarter wide)", p50, p99)
	}
	// Seconds older than a minute no longer count; the slots are reused.
	if rate, p50, _ := w.Summary(t0.Add(2 * time.Minute)); rate != 0 || p50 != 0 {
		t.Errorf("two minutes later: rate %v, p50 %v", rate, p50)
	}
	w.Observe(t0.Add(60*time.Second), 3*time.Millisecond)                                   // lands in the slot of t0
	if _, p50, _ := w.Summary(t0.Add(65 * time.Second)); !within(p50, 3*time.Millisecond) { // only the reused slot is within the minute
		t.Errorf("a reused slot kept stale counts: p50 %v", p50)
	}
}
