package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi/openapitest"
	"github.com/replog/replog/shared/httpapi/ssetest"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	t        *testing.T
	store    *store.Memory
	commit   *store.Commit
	reads    *Reads
	url      string
	draining chan struct{}
}

func newNode(t *testing.T, maxFollowers int) *node {
	validating = &http.Client{Transport: openapitest.Transport(t, nil)}
	st := store.NewMemory("L")
	n := &node{t: t, store: st, commit: new(store.Commit), draining: make(chan struct{})}
	rd := NewReads(st, ReadLimits{MaxStreams: maxFollowers, MaxLargeReads: 2}, n.draining).WithCommit(n.commit)
	n.reads = rd
	mux := http.NewServeMux()
	mux.HandleFunc("GET /messages", rd.Messages)
	mux.HandleFunc("GET /messages/stream", rd.Stream)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		select {
		case <-n.draining:
		default:
			close(n.draining)
		}
		srv.Close()
	})
	n.url = srv.URL
	return n
}

func (n *node) append(msgs ...string) {
	recs := make([]store.Record, len(msgs))
	for i, m := range msgs {
		recs[i].Message = m
	}
	if _, err := n.store.Append(recs...); err != nil {
		n.t.Fatal(err)
	}
}

type page struct {
	status   int
	Error    string        `json:"error"`
	Messages []frame.Entry `json:"messages"`
}

// validating checks every read of these tests against docs/openapi.yaml.
var validating *http.Client

func get(ctx context.Context, url string) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return page{}, err
	}
	resp, err := validating.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	p := page{status: resp.StatusCode}
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

func TestLongPoll(t *testing.T) {
	n := newNode(t, 1000)
	n.append("a")
	ctx := context.Background()

	// Something is there: answered at once, waitMs or not.
	if p, err := get(ctx, n.url+"/messages?from=1&waitMs=60000"); err != nil || len(p.Messages) != 1 {
		t.Fatalf("a read of what is there: %+v %v", p, err)
	}
	// Nothing comes: an empty page once waitMs passes.
	start := time.Now()
	if p, err := get(ctx, n.url+"/messages?from=2&waitMs=100"); err != nil || p.status != 200 || len(p.Messages) != 0 {
		t.Fatalf("a long-poll that times out: %+v %v", p, err)
	} else if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("the long-poll answered after %s, before its waitMs", took)
	}
	// Bad waitMs.
	for _, bad := range []string{"-1", "60001", "soon", "1.5"} {
		if p, _ := get(ctx, n.url+"/messages?waitMs="+bad); p.status != 400 || p.Error == "" {
			t.Errorf("waitMs=%s: %+v", bad, p)
		}
	}
}

// TestLongPollWakesManyReaders: 200 readers waiting for id 2 all get it
// from one append, promptly.
func TestLongPollWakesManyReaders(t *testing.T) {
	n := newNode(t, 1000)
	n.append("a")
	const readers = 200
	results := make(chan page, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			p, err := get(context.Background(), n.url+"/messages?from=2&waitMs=30000")
			if err != nil {
				t.Errorf("long-poll: %v", err)
			}
			results <- p
		})
	}
	// Wait until every reader is waiting (each holds a slot), then append.
	poll.Check(t, 10*time.Second, func() error {
		if w := n.waiting(); w < readers {
			return fmt.Errorf("only %d of %d readers waiting", w, readers)
		}
		return nil
	})
	n.append("b", "c")
	wg.Wait()
	close(results)
	for p := range results {
		if len(p.Messages) != 2 || p.Messages[0].ID != 2 || p.Messages[1].Message != "c" {
			t.Fatalf("a woken reader got %+v", p)
		}
	}
}

// waiting counts the streams and long-polls holding a slot.
func (n *node) waiting() int { return len(n.reads.slots) }

func TestFollowersAreBounded(t *testing.T) {
	n := newNode(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = get(ctx, n.url+"/messages?from=1&waitMs=30000") })
	}
	poll.Check(t, 5*time.Second, func() error {
		if w := n.waiting(); w < 2 {
			return fmt.Errorf("the two long-polls never waited: %d waiting", w)
		}
		return nil
	})
	if p, _ := get(context.Background(), n.url+"/messages?from=1&waitMs=1000"); p.status != 503 || !strings.Contains(p.Error, "MAX_STREAMS=2") {
		t.Fatalf("a third long-poll: %+v", p)
	}
	resp, err := http.Get(n.url + "/messages/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("a stream beyond MAX_STREAMS: %d", resp.StatusCode)
	}
	if p, _ := get(context.Background(), n.url+"/messages"); p.status != 200 {
		t.Fatalf("a plain read while followers are full: %+v", p)
	}
	cancel() // the clients leave: their handlers end and give the slots back
	wg.Wait()
	poll.Check(t, 5*time.Second, func() error {
		if w := n.waiting(); w > 0 {
			return fmt.Errorf("%d slots still held after the clients left", w)
		}
		return nil
	})
}

func TestStream(t *testing.T) {
	n := newNode(t, 10)
	n.append("a", "b")
	// Bare: only what comes next.
	bare := ssetest.Open(t, n.url+"/messages/stream")
	// From an id: the backlog, then what comes.
	from := ssetest.Open(t, n.url+"/messages/stream?from=1")
	from.Expect(1, "a")
	from.Expect(2, "b")
	n.append("c")
	bare.Expect(3, "c")
	from.Expect(3, "c")
	// Last-Event-ID wins over from: an EventSource resuming.
	resumed := ssetest.Open(t, n.url+"/messages/stream?from=1", "Last-Event-ID", "2")
	resumed.Expect(3, "c")
	// A reset (a secondary taking another log) ends the stream with a reset event.
	if err := n.store.Reset("NEW"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*ssetest.Stream{bare, from, resumed} {
		e, err := s.Next()
		if err != nil || e.Kind != "reset" || e.Data != "NEW" {
			t.Fatalf("after a reset: %+v %v, want a reset event naming NEW", e, err)
		}
		if _, err := s.Next(); err != io.EOF {
			t.Fatalf("the stream goes on after a reset: %v", err)
		}
	}
	for _, bad := range []string{"from=0", "from=x"} {
		if p, _ := get(context.Background(), n.url+"/messages/stream?"+bad); p.status != 400 {
			t.Errorf("%s: %+v", bad, p)
		}
	}
}

func TestStreamOrderOverManyMessages(t *testing.T) {
	n := newNode(t, 10)
	s := ssetest.Open(t, n.url+"/messages/stream?from=1")
	const total = 10000
	go func() {
		for i := 1; i <= total; i += 100 {
			recs := make([]store.Record, 100)
			for j := range recs {
				recs[j].Message = fmt.Sprintf("m%d", i+j)
			}
			_, _ = n.store.Append(recs...)
		}
	}()
	for id := uint64(1); id <= total; id++ {
		s.Expect(id, fmt.Sprintf("m%d", id))
	}
}

func TestStreamEndsOnShutdown(t *testing.T) {
	n := newNode(t, 10)
	s := ssetest.Open(t, n.url+"/messages/stream")
	close(n.draining)
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("a stream during shutdown: %v, want its end", err)
	}
}
