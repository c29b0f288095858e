package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/httpapi"
)

// LagHistory keeps the last minute of every secondary's lag, one sample
// a second, so that the dashboard draws its lag sparklines in full as
// soon as it opens. It is pure: the time comes in as an argument. Not
// safe for concurrent use.
type LagHistory struct {
	samples [lagSamples]lagSample // a ring; next is the oldest
	next    int
}

// lagSamples is a minute of samples, one a second (LagSampleEvery).
const lagSamples = 60

// LagSampleEvery is how often the master samples the lags.
const LagSampleEvery = time.Second

type lagSample struct {
	at   time.Time
	lags []namedLag // kept and refilled, once the ring has gone round
}

type namedLag struct {
	name string
	lag  uint64
}

// Record takes the lags of secs at now, in place of the oldest sample. A
// gone secondary is left out: the page shows no sparkline for it.
func (h *LagHistory) Record(now time.Time, secs []replication.SecondaryStatus) {
	s := &h.samples[h.next]
	h.next = (h.next + 1) % len(h.samples)
	s.at, s.lags = now, s.lags[:0]
	for _, sec := range secs {
		if !sec.Gone {
			s.lags = append(s.lags, namedLag{sec.Name, sec.Lag})
		}
	}
}

// Since returns, by secondary, the samples of the minute before now,
// oldest first, each [Unix milliseconds, lag].
func (h *LagHistory) Since(now time.Time) map[string][][2]int64 {
	out := map[string][][2]int64{}
	for i := range h.samples {
		s := &h.samples[(h.next+i)%len(h.samples)]
		if s.at.IsZero() || !s.at.After(now.Add(-time.Minute)) || s.at.After(now) {
			continue // empty, older than a minute, or from a clock that went back
		}
		for _, l := range s.lags {
			out[l.name] = append(out[l.name], [2]int64{s.at.UnixMilli(), int64(l.lag)})
		}
	}
	return out
}

// lagRing is a LagHistory behind a mutex: the sampler writes, the
// dashboard's route reads.
type lagRing struct {
	mu sync.Mutex
	h  LagHistory // guarded by mu
}

// SampleLag records every secondary's lag each LagSampleEvery until ctx
// is done.
func (s *Server) SampleLag(ctx context.Context) {
	t := time.NewTicker(LagSampleEvery)
	defer t.Stop()
	for {
		secs := s.hub.Secondaries() // before taking the ring's lock
		now := time.Now()
		s.lags.mu.Lock()
		s.lags.h.Record(now, secs)
		s.lags.mu.Unlock()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// dashboardHistory is GET /dashboard/history: the last minute of every
// secondary's lag, which the dashboard loads when it opens.
func (s *Server) dashboardHistory(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.lags.mu.Lock()
	lags := s.lags.h.Since(now)
	s.lags.mu.Unlock()
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Time  string                `json:"time"`
		Every int64                 `json:"everyMs"`
		Lags  map[string][][2]int64 `json:"lags"`
	}{now.UTC().Format(time.RFC3339Nano), LagSampleEvery.Milliseconds(), lags})
}
