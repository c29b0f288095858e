package replication

import (
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	const iv = time.Second
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name   string
		events func(h *Health)
		at     time.Duration
		want   Status
	}{
		{"never seen", func(h *Health) {}, 0, Unhealthy},
		{"just seen", func(h *Health) { h.Seen("s1", t0) }, 0, Healthy},
		{"one interval of silence", func(h *Health) { h.Seen("s1", t0) }, iv, Healthy},
		{"just under two intervals", func(h *Health) { h.Seen("s1", t0) }, 2*iv - time.Millisecond, Healthy},
		{"two intervals", func(h *Health) { h.Seen("s1", t0) }, 2 * iv, Suspected},
		{"three intervals", func(h *Health) { h.Seen("s1", t0) }, 3 * iv, Suspected},
		{"four intervals", func(h *Health) { h.Seen("s1", t0) }, 4 * iv, Unhealthy},
		{"answers again", func(h *Health) { h.Seen("s1", t0); h.Seen("s1", t0.Add(10*iv)) }, 10 * iv, Healthy},
		{"disconnected", func(h *Health) { h.Seen("s1", t0); h.Disconnected("s1") }, 0, Unhealthy},
		{"reconnected", func(h *Health) { h.Seen("s1", t0); h.Disconnected("s1"); h.Seen("s1", t0) }, 0, Healthy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHealth(iv)
			c.events(h)
			if got := h.Status("s1", t0.Add(c.at)); got != c.want {
				t.Fatalf("Status = %s, want %s", got, c.want)
			}
		})
	}
}

func TestHealthCountsHealthy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHealth(time.Second)
	h.Seen("a", t0)
	h.Seen("b", t0.Add(-3*time.Second)) // suspected at t0
	h.Seen("c", t0)
	h.Disconnected("c")
	if n := h.CountHealthy(t0); n != 1 {
		t.Fatalf("CountHealthy = %d, want 1", n)
	}
}

func TestHealthGone(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHealth(time.Second)
	h.Seen("left", t0)
	h.Disconnected("left")
	h.Seen("silent-but-connected", t0)
	h.Seen("left-recently", t0.Add(50*time.Minute))
	h.Disconnected("left-recently")
	gone := h.Gone(t0.Add(time.Hour), time.Hour)
	if len(gone) != 1 || gone[0] != "left" {
		t.Fatalf("Gone = %v, want [left]", gone)
	}
	h.Forget("left")
	if h.Status("left", t0) != Unhealthy || len(h.Gone(t0.Add(2*time.Hour), time.Hour)) != 1 {
		t.Fatal("a forgotten peer is still known")
	}
}
