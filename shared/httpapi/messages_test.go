package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi/openapitest"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

// gatedStore holds every large read (one allowed more than smallPageBytes)
// until gate is closed, counting how many are held at once.
type gatedStore struct {
	*store.Memory
	gate         chan struct{}
	active, most atomic.Int32
}

func (g *gatedStore) Read(dst []frame.Entry, from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	if maxBytes > smallPageBytes {
		n := g.active.Add(1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		<-g.gate
		defer g.active.Add(-1)
	}
	return g.Memory.Read(dst, from, limit, maxBytes)
}

// TestLargeReadsAreBounded: at most MaxLargeReads replies above 1 MiB are
// built at once; the others wait and then get their whole page, and small
// reads do not wait behind them.
func TestLargeReadsAreBounded(t *testing.T) {
	validating = &http.Client{Transport: openapitest.Transport(t, nil)}
	g := &gatedStore{Memory: store.NewMemory("L"), gate: make(chan struct{})}
	big := strings.Repeat("x", 600<<10)
	for range 3 {
		if _, err := g.Append(store.Record{Message: big}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	rd := NewReads(g, ReadLimits{MaxStreams: 10, MaxLargeReads: 2}, done)
	srv := httptest.NewServer(http.HandlerFunc(rd.Messages))
	defer srv.Close()
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	release := sync.OnceFunc(func() { close(g.gate) })
	defer release() // first: the server cannot close while reads are held

	const readers = 6
	var wg sync.WaitGroup
	pages := make(chan page, readers)
	for range readers {
		wg.Go(func() {
			p, err := get(ctx, srv.URL+"/messages")
			if err != nil {
				t.Errorf("a large read: %v", err)
			}
			pages <- p
		})
	}
	poll.Check(t, 5*time.Second, func() error {
		if n := g.active.Load(); n < 2 {
			return fmt.Errorf("%d large reads running, want 2", n)
		}
		return nil
	})
	small, err := get(ctx, srv.URL+"/messages?from=3")
	if err != nil || small.status != http.StatusOK || len(small.Messages) != 1 {
		t.Fatalf("a small read behind the large ones: %+v, %v", small.status, err)
	}
	if n := g.most.Load(); n > 2 {
		t.Fatalf("%d large reads at once with MaxLargeReads 2", n)
	}
	release()
	wg.Wait()
	close(pages)
	for p := range pages {
		if p.status != http.StatusOK || len(p.Messages) != 3 {
			t.Fatalf("a large read: status %d, %d messages, want 3", p.status, len(p.Messages))
		}
	}
	if n := g.most.Load(); n > 2 {
		t.Fatalf("%d large reads at once with MaxLargeReads 2", n)
	}
}

// FuzzMessagesQuery: any query string of GET /messages gets a 200 with the
// page it names or a 400 with a JSON error, never another status or a
// panic; a page starts at from and holds at most limit entries.
func FuzzMessagesQuery(f *testing.F) {
	for _, q := range []string{"", "from=2&limit=1", "from=0", "limit=-1", "from=99999999999999999999",
		"waitMs=0", "waitMs=70000", "from=3&waitMs=1", "limit=10001&from=1&from=2", "from=%zz"} {
		f.Add(q)
	}
	st := store.NewMemory("L")
	for _, m := range []string{"a", "b", "c"} {
		if _, err := st.Append(store.Record{Message: m}); err != nil {
			f.Fatal(err)
		}
	}
	done := make(chan struct{})
	close(done) // a waiting read ends at once: the fuzzer must not sleep
	rd := NewReads(st, ReadLimits{MaxStreams: 4, MaxLargeReads: 1}, done)
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/messages", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		rd.Messages(rec, req)
		var body struct {
			Error    string        `json:"error"`
			Messages []frame.Entry `json:"messages"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("?%s: %d %q is not JSON: %v", query, rec.Code, rec.Body, err)
		}
		switch rec.Code {
		case http.StatusOK:
			p, err := ParsePage(req)
			if err != nil {
				t.Fatalf("?%s: 200, yet the page is refused: %v", query, err)
			}
			if len(body.Messages) > p.Limit || (len(body.Messages) > 0 && body.Messages[0].ID != p.From) {
				t.Fatalf("?%s: page %+v for from %d, limit %d", query, body.Messages, p.From, p.Limit)
			}
		case http.StatusBadRequest:
			if body.Error == "" {
				t.Fatalf("?%s: 400 without an error", query)
			}
		default:
			t.Fatalf("?%s: status %d %q", query, rec.Code, rec.Body)
		}
	})
}

// failingStore fails every large read (one allowed more than
// smallPageBytes), as a disk that errors would.
type failingStore struct{ *store.Memory }

func (f failingStore) Read(dst []frame.Entry, from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	if maxBytes > smallPageBytes {
		return dst, errors.New("read segment 1: input/output error")
	}
	return f.Memory.Read(dst, from, limit, maxBytes)
}

// TestFailedLargeReadIsAnError: a page above smallPageBytes whose read
// fails is answered 500 with the error, never 200 with an empty page (a
// reader would take a failing disk for an empty log).
func TestFailedLargeReadIsAnError(t *testing.T) {
	validating = &http.Client{Transport: openapitest.Transport(t, nil)}
	st := failingStore{store.NewMemory("L")}
	big := strings.Repeat("x", 600<<10)
	for range 2 {
		if _, err := st.Append(store.Record{Message: big}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	defer close(done)
	srv := httptest.NewServer(http.HandlerFunc(NewReads(st, ReadLimits{MaxStreams: 1, MaxLargeReads: 1}, done).Messages))
	defer srv.Close()
	p, err := get(context.Background(), srv.URL+"/messages")
	if err != nil {
		t.Fatal(err)
	}
	if p.status != http.StatusInternalServerError || !strings.Contains(p.Error, "input/output error") || p.Messages != nil {
		t.Fatalf("a failed large read: status %d, error %q, %d messages; want 500 with the error", p.status, p.Error, len(p.Messages))
	}
}
