package store

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendDuringRetention measures what a retention sweep costs
// the appends running beside it: each iteration grows a large log by a
// tenth, then sweeps it back to its size as the master's retention does
// (FitBytes, then DropBefore) while appenders write and time each append
// over a window of half a second that holds the sweep (or as long as the
// sweep takes). It reports the p99, the p99.9 and the worst append
// latency over the windows, and how long a sweep took.
//
//	go test -run XXX -bench AppendDuringRetention -benchtime 20x ./store/
func BenchmarkAppendDuringRetention(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		b.Run(string(policy), func(b *testing.B) { benchmarkRetention(b, policy) })
	}
}

func benchmarkRetention(b *testing.B, policy FsyncPolicy) {
	const (
		msgBytes  = 1 << 10
		logBytes  = 256 << 20 // what retention keeps
		growBytes = logBytes / 10
		appenders = 4
		window    = 500 * time.Millisecond // appends are timed over this, the sweep in it
	)
	d, err := OpenDisk(b.TempDir(), DiskOptions{NewLogID: "L", Fsync: policy, SegmentBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	batch := make([]Record, 256)
	for i := range batch {
		batch[i] = Record{Message: strings.Repeat("x", msgBytes)}
	}
	grow := func(n int64) {
		for ; n > 0; n -= int64(len(batch) * msgBytes) {
			if _, err := d.Append(batch...); err != nil {
				b.Fatal(err)
			}
		}
	}
	grow(logBytes)
	var lat []time.Duration
	var sweeps time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		grow(growBytes)
		b.StartTimer()
		stop := make(chan struct{})
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range appenders {
			wg.Go(func() {
				var mine []time.Duration
				for {
					select {
					case <-stop:
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
						return
					default:
					}
					start := time.Now()
					if _, err := d.Append(batch[0]); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
			})
		}
		start := time.Now()
		time.Sleep(5 * time.Millisecond) // the appenders are at work when the sweep starts
		swept := time.Now()
		if err := d.DropBefore(d.FitBytes(logBytes)); err != nil {
			b.Fatal(err)
		}
		sweeps += time.Since(swept)
		time.Sleep(time.Until(start.Add(window))) // as many appends timed, however long the sweep
		close(stop)
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds()), "p99.9-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	}
	b.ReportMetric(float64(sweeps.Milliseconds())/float64(b.N), "sweep-ms")
}
