package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/replog/replog/master/internal/netfault"
	"github.com/replog/replog/master/internal/proc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadRollback(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "4-3-4.jsonl")
	os.WriteFile(good, []byte(`{"id":3,"epoch":2,"message":"t1"}`+"\n"+`{"id":4,"epoch":2,"message":"t2","key":"k"}`+"\n"), 0o600)
	es, err := readRollback(good)
	if err != nil || fmt.Sprint(es) != "[3:t1 4:t2]" {
		t.Fatalf("readRollback = %v, %v; want [3:t1 4:t2]", es, err)
	}
	if got := idRange(es); got != "ids 3–4" {
		t.Errorf("idRange = %q", got)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"id\":3}\nnot json\n"), 0o600)
	if _, err := readRollback(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("a bad line: %v, want an error naming the file", err)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		refused map[string]int
		want    string
	}{
		{nil, "no refusal"},
		{map[string]int{"503": 1}, "1 refusal: 503 ×1"},
		{map[string]int{"no answer": 2, "503": 7}, "9 refusals: 503 ×7, no answer ×2"},
	} {
		if got := summary(tc.refused); got != tc.want {
			t.Errorf("summary(%v) = %q, want %q", tc.refused, got, tc.want)
		}
	}
}

func TestMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x\nreplog_promotions_total{reason=\"failover\"} 2\nreplog_promotions_total{reason=\"switchover\"} 0\nreplog_rolled_back_messages_total 4\n")
	}))
	defer srv.Close()
	n := &proc.Node{Name: "fake", Addr: strings.TrimPrefix(srv.URL, "http://")}
	if v, err := metric(n, `replog_promotions_total{reason="failover"}`); err != nil || v != 2 {
		t.Errorf("promotions = %v, %v", v, err)
	}
	if v, err := metric(n, "replog_rolled_back_messages_total"); err != nil || v != 4 {
		t.Errorf("rolled back = %v, %v", v, err)
	}
	if _, err := metric(n, "replog_epoch"); err == nil {
		t.Error("a missing series was found")
	}
}

// TestCutOffEndsU1OnEarlyReturn: when a step after u1 fails (here the
// cut-off leader shows no tail), u1's request, which would wait for ever,
// is ended and its goroutine done by the time cutOff returns.
func TestCutOffEndsU1OnEarlyReturn(t *testing.T) {
	id := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/health":
			fmt.Fprint(w, `{"role":"master","status":"read-only"}`)
		case r.Method == http.MethodGet:
			fmt.Fprint(w, `{"messages":[{"id":1,"message":"p1"},{"id":2,"message":"p2"}]}`)
		default:
			if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), `"u1"`) {
				<-r.Context().Done() // w=majority with no follower: no answer
				return
			}
			id++
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":%d,"acks":1}`, id)
		}
	}))
	defer srv.Close()
	n := &proc.Node{Name: "m1", Addr: strings.TrimPrefix(srv.URL, "http://")}
	d := &demo{start: time.Now(), client: srv.Client(), cluster: &proc.Cluster{}, master: n}
	fc := &failoverCluster{masters: []*proc.Node{n}, links: map[[2]string]*netfault.Proxy{}}
	_, _, _, err := d.cutOff(context.Background(), fc, n, []string{"p1", "p2"})
	if err == nil || !strings.Contains(err.Error(), "no tail") {
		t.Fatalf("cutOff returned %v, want the missing tail", err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "cutOff") {
		t.Fatalf("u1's goroutine still runs after cutOff returned:\n%s", stacks)
	}
}
