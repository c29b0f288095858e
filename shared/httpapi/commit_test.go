package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/httpapi/ssetest"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

// ids lists the ids of a page.
func ids(p page) []uint64 {
	var out []uint64
	for _, e := range p.Messages {
		out = append(out, e.ID)
	}
	return out
}

// TestCommittedReadShowsUpToTheCommitID: committed=true shows the ids up
// to the commit id and no further, never beyond what the node holds;
// without it every id held shows.
func TestCommittedReadShowsUpToTheCommitID(t *testing.T) {
	n := newNode(t, 10)
	n.append("a", "b", "c")
	ctx := context.Background()
	read := func(q string) []uint64 {
		t.Helper()
		p, err := get(ctx, n.url+"/messages?"+q)
		if err != nil || p.status != http.StatusOK {
			t.Fatalf("%s: %+v %v", q, p, err)
		}
		return ids(p)
	}
	if got := read("committed=true"); len(got) != 0 {
		t.Fatalf("commit id 0: committed read shows %v", got)
	}
	n.commit.Raise(2)
	if got := read("committed=true"); len(got) != 2 || got[1] != 2 {
		t.Fatalf("commit id 2: committed read shows %v", got)
	}
	if got := read("committed=true&from=2&limit=5"); len(got) != 1 || got[0] != 2 {
		t.Fatalf("commit id 2, from 2: %v", got)
	}
	if got := read("committed=false"); len(got) != 3 {
		t.Fatalf("committed=false shows %v", got)
	}
	n.commit.Raise(9) // heard from a leader ahead of this node
	if got := read("committed=true"); len(got) != 3 {
		t.Fatalf("commit id 9 on a log of 3: %v", got)
	}
}

// TestCommittedLongPollWaitsForTheCommitID: a committed long-poll for
// an id the node holds but not yet as committed waits, and answers when
// the commit id passes it.
func TestCommittedLongPollWaitsForTheCommitID(t *testing.T) {
	n := newNode(t, 10)
	n.append("a", "b")
	n.commit.Raise(1)
	got := make(chan page, 1)
	go func() {
		p, err := get(context.Background(), n.url+"/messages?from=2&committed=true&waitMs=10000")
		if err != nil {
			p.Error = err.Error()
		}
		got <- p
	}()
	poll.Check(t, 5*time.Second, func() error {
		if n.waiting() != 1 {
			return fmt.Errorf("the committed long-poll for id 2 (held, not committed) is not waiting (%d waiting)", n.waiting())
		}
		return nil
	})
	select {
	case p := <-got:
		t.Fatalf("answered before the commit id passed: %+v", p)
	default:
	}
	n.commit.Raise(2)
	select {
	case p := <-got:
		if p.status != http.StatusOK || len(p.Messages) != 1 || p.Messages[0].ID != 2 {
			t.Fatalf("after the commit id passed: %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the committed long-poll did not wake when the commit id passed it")
	}
}

// TestCommittedStreamWaitsForTheCommitID: a committed stream sends the
// ids up to the commit id, then each as the commit id passes it.
func TestCommittedStreamWaitsForTheCommitID(t *testing.T) {
	n := newNode(t, 10)
	n.append("a", "b", "c")
	n.commit.Raise(1)
	s := ssetest.Open(t, n.url+"/messages/stream?from=1&committed=true")
	s.Expect(1, "a")
	n.commit.Raise(3)
	s.Expect(2, "b")
	s.Expect(3, "c")
	n.append("d")
	n.commit.Raise(4)
	s.Expect(4, "d")
	// Without from, a committed stream starts after the last id
	// committed, not after the last held.
	n.append("e", "f")
	bare := ssetest.Open(t, n.url+"/messages/stream?committed=true")
	n.commit.Raise(6)
	bare.Expect(5, "e")
	bare.Expect(6, "f")
}

// TestCommittedNeedsACommitID: a node that knows no commit id refuses
// committed=true, and committed takes only true and false.
func TestCommittedNeedsACommitID(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	st := store.NewMemory("L")
	mux := http.NewServeMux()
	rd := NewReads(st, ReadLimits{MaxStreams: 1, MaxLargeReads: 1}, done)
	mux.HandleFunc("GET /messages", rd.Messages)
	mux.HandleFunc("GET /messages/stream", rd.Stream)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, q := range []string{"/messages?committed=true", "/messages/stream?committed=true", "/messages?committed=yes"} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Error == "" {
			t.Errorf("%s: %d %q", q, resp.StatusCode, body.Error)
		}
	}
}

// appendEpoch appends msgs as entries of epoch e, starting e in the
// log's history first when it is new, as a follower does.
func (n *node) appendEpoch(e uint64, msgs ...string) {
	n.t.Helper()
	h := n.store.History()
	if len(h) == 0 || h[len(h)-1].Epoch != e {
		h = append(slices.Clone(h), epoch.Start{Epoch: e, FirstID: n.store.LastID() + 1})
		if err := n.store.SetHistory(h); err != nil {
			n.t.Fatal(err)
		}
	}
	recs := make([]store.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = store.Record{Message: m, Epoch: e}
	}
	if _, err := n.store.Append(recs...); err != nil {
		n.t.Fatal(err)
	}
}

// TestStreamEndsWithRollback: a stream whose node rolls back ids it sent
// ends with an event rollback naming the last id that stays — whether
// the rolled-back ids are gone or a later leader's took their place —
// while a committed stream of the same log, which never sent them, goes
// on with the later leader's ids as they are committed.
func TestStreamEndsWithRollback(t *testing.T) {
	for _, refill := range []bool{false, true} {
		name := "log short of what was sent"
		if refill {
			name = "a later epoch's ids in their place"
		}
		t.Run(name, func(t *testing.T) {
			n := newNode(t, 10)
			n.appendEpoch(2, "a", "b")
			n.appendEpoch(3, "c", "d", "e")
			n.commit.Raise(3)
			all := ssetest.Open(t, n.url+"/messages/stream?from=1")
			committed := ssetest.Open(t, n.url+"/messages/stream?from=1&committed=true")
			tail := ssetest.Open(t, n.url+"/messages/stream?from=5")
			for i, m := range []string{"a", "b", "c", "d", "e"} {
				all.Expect(uint64(i+1), m)
			}
			for i, m := range []string{"a", "b", "c"} {
				committed.Expect(uint64(i+1), m)
			}
			tail.Expect(5, "e")
			// Epoch 4's leader lacks 4 and 5 (they never reached a majority).
			if _, err := n.store.RollBackAfter(3, 4); err != nil {
				t.Fatal(err)
			}
			if refill {
				n.appendEpoch(4, "D", "E", "F")
			}
			for what, s := range map[string]*ssetest.Stream{"stream from 1": all, "stream from 5": tail} {
				e, err := s.Next()
				if err != nil || e.Kind != "rollback" || e.Data != "3" {
					t.Fatalf("%s after a rollback after id 3: %+v %v, want event rollback with data 3", what, e, err)
				}
				if _, err := s.Next(); err != io.EOF {
					t.Fatalf("%s goes on after its rollback event: %v", what, err)
				}
			}
			if !refill {
				n.appendEpoch(4, "D", "E", "F")
			}
			n.commit.Raise(6)
			for i, m := range []string{"D", "E", "F"} {
				committed.Expect(uint64(i+4), m) // a rollback event here fails: it is not a message
			}
		})
	}
}
