package clustertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/replog/replog/shared/metrics/metricstest"
	"github.com/replog/replog/shared/poll"
)

// TestSecondaryLagMetric: a secondary's replog_secondary_lag_messages,
// scraped from the real process, counts what the master holds beyond it
// while it is cut off, and falls back to 0 once it is healed.
func TestSecondaryLagMetric(t *testing.T) {
	m := startMaster(t, "HEARTBEAT_INTERVAL=200ms", "FAULTS_API=true")
	s1 := startSecondary(t, "s1", m, "FAULTS_API=true")
	lagIs := func(want float64) {
		t.Helper()
		poll.Check(t, 10*time.Second, func() error {
			got := metricstest.MustValue(t, metricstest.Scrape(t, s1.url()+"/metrics"), "replog_secondary_lag_messages")
			if got != want {
				return fmt.Errorf("s1's own lag %v, want %v", got, want)
			}
			return nil
		})
	}
	appendMsg(t, m, "a", 2)
	lagIs(0)
	if r := put(t, m.url()+"/secondaries/s1/faults", `{"cutOff":true}`); r.Status != 200 {
		t.Fatalf("cut off s1: %+v", r)
	}
	for i := range 5 {
		appendMsg(t, m, fmt.Sprintf("b%d", i), 1)
	}
	lagIs(5)
	if r := put(t, m.url()+"/secondaries/s1/faults", `{"cutOff":false}`); r.Status != 200 {
		t.Fatalf("heal s1: %+v", r)
	}
	lagIs(0)
}
