package api

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/replication"
)

func lags(pairs ...any) []replication.SecondaryStatus {
	var out []replication.SecondaryStatus
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, replication.SecondaryStatus{Name: pairs[i].(string), Lag: uint64(pairs[i+1].(int))})
	}
	return out
}

// TestLagHistory: the ring answers the minute before now, oldest first,
// per secondary; older samples, samples from the future and gone
// secondaries are left out; going round the ring keeps the newest minute.
func TestLagHistory(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	t.Run("a minute, oldest first", func(t *testing.T) {
		var h LagHistory
		h.Record(t0, lags("s1", 1, "s2", 5))
		h.Record(t0.Add(time.Second), lags("s1", 2))
		gone := lags("s1", 3, "s3", 9)
		gone[1].Gone = true
		h.Record(t0.Add(2*time.Second), gone)
		got := h.Since(t0.Add(2 * time.Second))
		want := map[string][][2]int64{
			"s1": {{ms(0), 1}, {ms(time.Second), 2}, {ms(2 * time.Second), 3}},
			"s2": {{ms(0), 5}},
		}
		if len(got) != len(want) || !slices.Equal(got["s1"], want["s1"]) || !slices.Equal(got["s2"], want["s2"]) {
			t.Fatalf("Since = %v, want %v", got, want)
		}
	})
	t.Run("older than a minute and future samples are left out", func(t *testing.T) {
		var h LagHistory
		h.Record(t0, lags("s1", 1))
		h.Record(t0.Add(30*time.Second), lags("s1", 2))
		h.Record(t0.Add(90*time.Second), lags("s1", 3))
		if got := h.Since(t0.Add(60 * time.Second)); !slices.Equal(got["s1"], [][2]int64{{ms(30 * time.Second), 2}}) {
			t.Fatalf("Since = %v", got)
		}
	})
	t.Run("round the ring", func(t *testing.T) {
		var h LagHistory
		for i := range 150 {
			h.Record(t0.Add(time.Duration(i)*time.Second), lags("s1", i))
		}
		got := h.Since(t0.Add(149 * time.Second))["s1"]
		if len(got) != 60 || got[0][1] != 90 || got[59][1] != 149 {
			t.Fatalf("after 150 samples: %d in the last minute, from %v to %v; want 60, 90 to 149", len(got), got[0], got[len(got)-1])
		}
	})
}

// TestDashboardHistory: GET /dashboard/history (checked against the
// OpenAPI document) serves what the sampler recorded.
func TestDashboardHistory(t *testing.T) {
	m := newMaster(t, Options{})
	m.secondary("s1") // never acks
	for range 3 {
		check(t, "append", m.postJSON(`{"message":"a"}`), 201, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.server.SampleLag(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	var body struct {
		EveryMs int64                 `json:"everyMs"`
		Lags    map[string][][2]int64 `json:"lags"`
	}
	for deadline := time.Now().Add(5 * time.Second); len(body.Lags["s1"]) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no sample of s1: %+v", body)
		}
		resp, err := m.client.Get(m.url + "/dashboard/history")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /dashboard/history: %d, %v", resp.StatusCode, err)
		}
	}
	if got := body.Lags["s1"][0][1]; got != 3 || body.EveryMs != 1000 {
		t.Fatalf("s1's lag %d every %d ms, want 3 every 1000", got, body.EveryMs)
	}
}
