package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/httpapi/ssetest"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/metrics/metricstest"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readsNode serves reads of a memory log wrapped in the read metrics,
// and its /metrics, as a node routes them.
func readsNode(t *testing.T) (st *store.Memory, url string) {
	st = store.NewMemory("L")
	done := make(chan struct{})
	reg := metrics.NewRegistry()
	metrics.NewStore(reg)
	m := metrics.NewReads(reg)
	rd := httpapi.NewReads(st, httpapi.ReadLimits{MaxStreams: 4, MaxLargeReads: 1}, done)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /messages", m.Messages(rd.Messages))
	mux.HandleFunc("GET /messages/stream", m.Stream(rd.Stream))
	mux.Handle("GET /metrics", metrics.Handler(reg))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(done); srv.Close() })
	return st, srv.URL
}

// waitFor polls the node's metrics until series name{labels} is want.
func waitFor(t *testing.T, url string, want float64, name string, labels ...string) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = metricstest.MustValue(t, metricstest.Scrape(t, url+"/metrics"), name, labels...); got == want {
			return
		}
	}
	t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadMetrics: each kind of read is counted by its status once it
// ends, timed, and gauged while it is open.
func TestReadMetrics(t *testing.T) {
	st, url := readsNode(t)
	if _, err := st.Append(store.Record{Message: "a"}); err != nil {
		t.Fatal(err)
	}

	t.Run("page", func(t *testing.T) {
		if code := get(t, url+"/messages?from=1"); code != 200 {
			t.Fatalf("GET /messages: %d", code)
		}
		if code := get(t, url+"/messages?from=0"); code != 400 {
			t.Fatalf("GET /messages?from=0: %d", code)
		}
		text := metricstest.Scrape(t, url+"/metrics")
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"replog_read_requests_total", []string{`kind="page"`, `code="200"`}, 1},
			{"replog_read_requests_total", []string{`kind="page"`, `code="400"`}, 1},
			{"replog_read_duration_seconds_count", []string{`kind="page"`}, 2},
			{"replog_reads_open", []string{`kind="page"`}, 0},
			{"replog_read_requests_total", []string{`kind="long_poll"`, `code="200"`}, 0},
		} {
			if got := metricstest.MustValue(t, text, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})

	t.Run("long-poll", func(t *testing.T) {
		answered := make(chan int, 1)
		go func() {
			resp, err := http.Get(url + "/messages?from=2&waitMs=10000")
			if err != nil {
				answered <- 0
				return
			}
			resp.Body.Close()
			answered <- resp.StatusCode
		}()
		waitFor(t, url, 1, "replog_reads_open", `kind="long_poll"`)
		if _, err := st.Append(store.Record{Message: "b"}); err != nil {
			t.Fatal(err)
		}
		if code := <-answered; code != 200 {
			t.Fatalf("long-poll answered %d", code)
		}
		waitFor(t, url, 0, "replog_reads_open", `kind="long_poll"`)
		text := metricstest.Scrape(t, url+"/metrics")
		if got := metricstest.MustValue(t, text, "replog_read_requests_total", `kind="long_poll"`, `code="200"`); got != 1 {
			t.Errorf("long-polls answered 200: %v, want 1", got)
		}
		if got := metricstest.MustValue(t, text, "replog_read_duration_seconds_count", `kind="long_poll"`); got != 1 {
			t.Errorf("long-polls timed: %v, want 1", got)
		}
	})

	t.Run("stream", func(t *testing.T) {
		s := ssetest.Open(t, url+"/messages/stream?from=1")
		s.Expect(1, "a")
		waitFor(t, url, 1, "replog_reads_open", `kind="stream"`)
		if got := metricstest.MustValue(t, metricstest.Scrape(t, url+"/metrics"),
			"replog_read_requests_total", `kind="stream"`, `code="200"`); got != 0 {
			t.Errorf("an open stream is counted as ended: %v", got)
		}
		s.Close()
		waitFor(t, url, 0, "replog_reads_open", `kind="stream"`)
		waitFor(t, url, 1, "replog_read_requests_total", `kind="stream"`, `code="200"`)
		waitFor(t, url, 1, "replog_read_duration_seconds_count", `kind="stream"`)
	})
}

// TestBucketEdgesAreRound: every histogram a node exposes has edges a
// person reads at a glance, at most two significant digits.
func TestBucketEdgesAreRound(t *testing.T) {
	_, url := readsNode(t)
	metricstest.RoundEdges(t, metricstest.Scrape(t, url+"/metrics"), 2)
}

func TestSignificantDigits(t *testing.T) {
	for s, want := range map[string]int{"0.00025": 2, "0.0001": 1, "29.99999999999997": 16, "5000": 1,
		"2.5": 2, "0.00019420908392894573": 17, "1e-05": 1, "2.5e+06": 2, "10": 1, "1024": 4} {
		if got := metricstest.SignificantDigits(s); got != want {
			t.Errorf("SignificantDigits(%q) = %d, want %d", s, got, want)
		}
	}
}
