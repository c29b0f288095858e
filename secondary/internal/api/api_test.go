package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/store"
)

// fakeReplication stands in for the client: its answers are fixed, and
// fault changes go straight to the injector.
type fakeReplication struct{ inject *faults.Injector }

func (f fakeReplication) Connected() bool          { return true }
func (f fakeReplication) StoreError() string       { return "" }
func (f fakeReplication) Counts() (uint64, uint64) { return 7, 2 }
func (f fakeReplication) ChangeFaults(c frame.Faults) (frame.Faults, error) {
	return f.inject.Change(c)
}

func TestMetricsLintAndNames(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.NewStore(reg)
	inject := faults.New(faults.Delay{}, 1, 1)
	inject.Fail()
	RegisterMetrics(reg, store.NewMemory("L"), fakeReplication{inject}, inject)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for name, want := range map[string]int{"replog_log_last_id": 1, "replog_master_connected": 1,
		"replog_replication_messages_applied_total": 1, "replog_replication_nacks_sent_total": 1,
		"replog_faults_injected_total": 2, "replog_store_fsync_duration_seconds": 1,
		"replog_store_records_per_fsync": 1, "replog_build_info": 1} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP replog_faults_injected_total Faults injected: delays waited before applying, append frames refused.
# TYPE replog_faults_injected_total counter
replog_faults_injected_total{kind="delay"} 0
replog_faults_injected_total{kind="fail"} 1
`), "replog_faults_injected_total"); err != nil {
		t.Error(err)
	}
}

func TestPutFaults(t *testing.T) {
	for _, c := range []struct {
		name      string
		faultsAPI bool
		body      string
		status    int
	}{
		{"off", false, `{"cutOff":true}`, 403},
		{"taken", true, `{"cutOff":true,"replicationDelay":"10ms-20ms"}`, 200},
		{"bad rate", true, `{"failRate":1.5}`, 400},
		{"unknown field", true, `{"cutoff":true}`, 400},
		{"empty", true, `{}`, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			inject := faults.New(faults.Delay{}, 0, 1)
			h := Routes(Node{Name: "s1", Faults: inject, FaultsAPI: c.faultsAPI}, store.NewMemory("L"), fakeReplication{inject})
			req := httptest.NewRequest(http.MethodPut, "/faults", strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, c.status)
			}
			want := faults.Settings{ReplicationDelay: "0"}
			if c.status == 200 {
				want = faults.Settings{ReplicationDelay: "10ms-20ms", CutOff: true}
			}
			if got := inject.Settings(); got != want {
				t.Fatalf("faults in force %+v, want %+v", got, want)
			}
		})
	}
}
