package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/metrics/metricstest"
	"github.com/replog/replog/shared/poll"
)

// TestMetricsLintAndNames: every metric the master exposes passes
// promlint, and the names and labels dashboards and alerts depend on are
// there, per secondary computed at scrape time.
func TestMetricsLintAndNames(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.NewStore(reg)
	m := newMaster(t, Options{Registry: reg})
	s1 := m.secondary("s1")
	check(t, "append", m.postJSON(`{"message":"a"}`), 201, nil)
	check(t, "bad", m.postJSON(`{"message":""}`), 400, nil)
	s1.ExpectIDs(1, 1)
	s1.Send(frametest.Ack(1))
	// The ack is counted once the session has taken it.
	poll.Check(t, 5*time.Second, func() error {
		if n := counterValue(t, reg, "replog_replication_acks_received_total"); n != 1 {
			return fmt.Errorf("acks received: %v, want 1", n)
		}
		return nil
	})

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range families {
		for _, mm := range f.GetMetric() {
			text.WriteString(f.GetName())
			for _, l := range mm.GetLabel() {
				text.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			text.WriteString("\n")
		}
	}
	for _, want := range []string{
		"replog_log_last_id\n", "replog_append_requests_total result=created\n",
		"replog_append_requests_total result=bad_request\n", "replog_append_requests_total result=read_only\n",
		"replog_append_duration_seconds write_concern=1\n", "replog_appends_waiting\n",
		"replog_secondaries_connected\n", "replog_secondary_acked_id secondary=s1\n",
		"replog_secondary_lag_messages secondary=s1\n", "replog_secondary_state secondary=s1 state=healthy\n",
		"replog_secondary_state secondary=s1 state=unhealthy\n", "replog_secondary_state secondary=s1 state=gone\n", "replog_quorum_healthy_nodes\n",
		"replog_quorum_required_nodes\n", "replog_read_only\n",
		"replog_replication_messages_sent_total secondary=s1\n", "replog_replication_frames_sent_total secondary=s1\n",
		"replog_replication_acks_received_total secondary=s1\n", "replog_replication_nacks_received_total secondary=s1\n", "replog_replication_sessions_total secondary=s1\n",
		"replog_store_fsync_duration_seconds\n", "replog_store_records_per_fsync\n",
		"replog_read_requests_total code=200 kind=page\n", "replog_read_requests_total code=200 kind=stream\n",
		"replog_read_duration_seconds kind=long_poll\n", "replog_reads_open kind=stream\n",
		"replog_build_info goversion=", "go_goroutines\n", "process_resident_memory_bytes\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("no %q in the master's metrics:\n%s", want, text.String())
		}
	}
	if got := testutil.ToFloat64(m.srvMetrics().requests.WithLabelValues("created")); got != 1 {
		t.Errorf("created appends counted %v, want 1", got)
	}
	// The master's histograms, the append latency's first, have round edges.
	exposition := metricstest.Scrape(t, m.url+"/metrics")
	if n := metricstest.MustValue(t, exposition, "replog_append_duration_seconds_bucket", `write_concern="1"`, `le="0.0025"`); n > 1 {
		t.Errorf("appends within 2.5 ms: %v, want at most the one", n)
	}
	metricstest.RoundEdges(t, exposition, 2)
	if got := metricstest.MustValue(t, exposition, "replog_read_requests_total", `kind="page"`, `code="200"`); got != 0 {
		t.Errorf("pages read: %v before any", got)
	}
	resp, err := m.client.Get(m.url + "/messages")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	exposition = metricstest.Scrape(t, m.url+"/metrics")
	if got := metricstest.MustValue(t, exposition, "replog_read_requests_total", `kind="page"`, `code="200"`); got != 1 {
		t.Errorf("pages read: %v, want 1", got)
	}
}

// counterValue sums a counter family's series in reg (0 when absent).
func counterValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestMetricsGoneSecondary: a secondary replaced by a newcomer is "gone",
// not "unhealthy", so the unhealthy alert does not fire for it.
func TestMetricsGoneSecondary(t *testing.T) {
	reg := metrics.NewRegistry()
	m := newMaster(t, Options{Registry: reg})
	old := m.secondary("old")
	old.Conn.CloseNow()
	state := func(name, st string) float64 {
		return metricstest.MustValue(t, metricstest.Scrape(t, m.url+"/metrics"), "replog_secondary_state",
			`secondary="`+name+`"`, `state="`+st+`"`)
	}
	for deadline := time.Now().Add(5 * time.Second); state("old", "unhealthy") != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a disconnected secondary is not unhealthy")
		}
	}
	if got := state("old", "gone"); got != 0 {
		t.Fatalf("gone before any newcomer: %v", got)
	}
	m.secondary("new")
	if gone, unhealthy := state("old", "gone"), state("old", "unhealthy"); gone != 1 || unhealthy != 0 {
		t.Errorf("replaced: gone %v, unhealthy %v; want 1, 0", gone, unhealthy)
	}
	if got := state("new", "gone"); got != 0 {
		t.Errorf("the newcomer is gone: %v", got)
	}
}
