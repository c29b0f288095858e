package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/follow"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi/openapitest"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/store"
)

// fakeReplication stands in for the client: its answers are fixed, and
// fault changes go straight to the injector.
type fakeReplication struct{ inject *faults.Injector }

func (f fakeReplication) Connected() bool                        { return true }
func (f fakeReplication) MasterError() string                    { return "" }
func (f fakeReplication) StoreError() string                     { return "" }
func (f fakeReplication) Counts() (uint64, uint64)               { return 7, 2 }
func (f fakeReplication) Lag() uint64                            { return 3 }
func (f fakeReplication) Leader() (string, string, uint64, bool) { return "", "", 0, false }
func (f fakeReplication) RolledBack() uint64                     { return 0 }
func (f fakeReplication) LeaderURL() string                      { return "" }
func (f fakeReplication) Commit() *store.Commit                  { return new(store.Commit) }
func (f fakeReplication) Links() []follow.LinkStatus             { return nil }
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
		"replog_replication_messages_applied_total": 1, "replog_secondary_lag_messages": 1, "replog_replication_nacks_sent_total": 1,
		"replog_faults_injected_total": 2, "replog_store_fsync_duration_seconds": 1,
		"replog_store_records_per_fsync": 1, "replog_build_info": 1,
		"replog_epoch": 1, "replog_rolled_back_messages_total": 1} {
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
			srv := httptest.NewServer(Routes(Node{Name: "s1", Faults: inject, FaultsAPI: c.faultsAPI, Registry: metrics.NewRegistry()},
				store.NewMemory("L"), fakeReplication{inject}))
			defer srv.Close()
			client := &http.Client{Transport: openapitest.Transport(t, nil)}
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/faults", strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			for _, path := range []string{"/health", "/messages", "/messages?waitMs=1", "/metrics"} {
				if resp, err := client.Get(srv.URL + path); err == nil {
					resp.Body.Close()
				}
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

// TestJSONRepliesEndWithANewline: the secondary's JSON replies, errors
// among them, end with exactly one newline (a shell prompt does not stick
// to them).
func TestJSONRepliesEndWithANewline(t *testing.T) {
	inject := faults.New(faults.Delay{}, 0, 1)
	st := store.NewMemory("L")
	if _, err := st.Append(store.Record{Message: "a"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Routes(Node{Name: "s1", Faults: inject, FaultsAPI: true, Registry: metrics.NewRegistry()},
		st, fakeReplication{inject}))
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/health", "", 200},
		{http.MethodGet, "/messages", "", 200},
		{http.MethodGet, "/messages?limit=0", "", 400},
		{http.MethodGet, "/no/such/route", "", 404},
		{http.MethodPut, "/faults", `{"failRate":2}`, 400},
		{http.MethodPut, "/faults", `{"cutOff":false}`, 200},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d %q, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
		if !bytes.HasSuffix(body, []byte("\n")) || bytes.HasSuffix(body, []byte("\n\n")) {
			t.Errorf("%s %s: the body %q does not end with exactly one newline", c.method, c.path, body)
		}
	}
}
