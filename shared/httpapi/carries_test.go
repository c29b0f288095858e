package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// TestReadsShowNoEpochsOrKeys: the log's entries carry their epoch and,
// from a durable log, their Idempotency-Key and acceptance time, for the
// replication frames; GET /messages, a large page of it and the stream
// show each message as before, {"id","message"}, whatever the entry holds.
func TestReadsShowNoEpochsOrKeys(t *testing.T) {
	st, err := store.OpenDisk(t.TempDir(), store.DiskOptions{NewLogID: "L"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Append(store.Record{Message: "pay", Epoch: 2, Key: "order-42", Digest: 7, Time: time.Now()},
		store.Record{Message: "plain"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Read(nil, 1, 1, 1<<20); len(got) != 1 || got[0].Key != "order-42" || got[0].Epoch != 2 {
		t.Fatalf("the log's entry %+v: want its key and epoch, or this test shows nothing", got)
	}
	done := make(chan struct{})
	defer close(done)
	rd := NewReads(st, ReadLimits{MaxStreams: 1, MaxLargeReads: 1}, done)
	srv := httptest.NewServer(http.HandlerFunc(rd.Messages))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?from=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"messages":[{"id":1,"message":"pay"},{"id":2,"message":"plain"}]}` + "\n"
	if string(body) != want {
		t.Fatalf("GET /messages: %s, want %s", body, want)
	}
	e := frame.Entry{ID: 1, Epoch: 2, Message: "pay", Key: "order-42", At: 1764756000123}
	rec := httptest.NewRecorder()
	writeMessages(rec, []frame.Entry{e})
	if got := rec.Body.String(); got != `{"messages":[{"id":1,"message":"pay"}]}`+"\n" {
		t.Errorf("a large page: %s", got)
	}
	if got := string(appendEvent(nil, e)); !strings.HasSuffix(got, "data: {\"id\":1,\"message\":\"pay\"}\n\n") {
		t.Errorf("an event: %q", got)
	}
}
