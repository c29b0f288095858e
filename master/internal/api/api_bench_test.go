package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/store"
)

// BenchmarkAppendHandler is the master's append path without the network:
// parse, quorum check, append, notify, reply. Run with -benchmem for the
// allocations per append.
func BenchmarkAppendHandler(b *testing.B) {
	st := store.NewMemory(store.NewLogID())
	hub := replication.NewHub(st, replication.Options{}, zap.NewNop())
	defer hub.Close()
	h := New(st, hub, Options{Limits: Limits{MaxMessageBytes: 1 << 20}, Quorum: 1,
		IdempotencyWindow: time.Minute, IdempotencyMaxKeys: 10}, zap.NewNop()).Routes()
	body := `{"message":"` + strings.Repeat("x", 100) + `","writeConcern":1}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkParseAppend(b *testing.B) {
	body := `{"message":"` + strings.Repeat("x", 100) + `","writeConcern":3,"timeoutMs":500}`
	lim := Limits{MaxMessageBytes: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAppend(strings.NewReader(body), lim); err != nil {
			b.Fatal(err)
		}
	}
}
