package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/store"
)

// TestDashboardShowsNoKeys: a durable log's entries carry their key and
// acceptance time for the replication frames; the dashboard's newest
// messages show each as before, {"id","message"}.
func TestDashboardShowsNoKeys(t *testing.T) {
	st, err := store.OpenDisk(t.TempDir(), store.DiskOptions{NewLogID: "L"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Append(store.Record{Message: "pay", Epoch: 2, Key: "order-42", Digest: store.Digest("pay"), Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	hub := replication.NewHub(st, replication.Options{}, log)
	srv := httptest.NewServer(New(st, hub, Options{Quorum: 1}, log).Routes())
	defer srv.Close()
	defer hub.Close()
	resp, err := http.Get(srv.URL + "/dashboard/state")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /dashboard/state: %d %v", resp.StatusCode, err)
	}
	if !strings.Contains(string(b), `"messages":[{"id":1,"message":"pay"}]`) {
		t.Fatalf("GET /dashboard/state: %s, want its messages as {\"id\",\"message\"}", b)
	}
}
