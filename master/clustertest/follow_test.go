package clustertest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/httpapi/ssetest"
)

// batch appends msgs as one batch with write concern w.
func batch(t *testing.T, m *node, w int, msgs ...string) reply {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"messages": msgs, "writeConcern": w})
	return post(t, m, string(b))
}

// TestBatchReplicatesWhole: a w=3 batch of 1000 × 1 KiB gets consecutive
// ids, and every secondary shows every element right after the 201.
func TestBatchReplicatesWhole(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3")
	s1, s2 := startSecondary(t, "s1", m), startSecondary(t, "s2", m)
	appendMsg(t, m, "before", 1)
	msgs := make([]string, 1000)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("k", 1019))
	}
	b, _ := json.Marshal(map[string]any{"messages": msgs, "writeConcern": 3})
	r := postTo(t, m.url()+"/messages", string(b))
	if r.Status != 201 || r.Acks != 3 || r.FirstID != 2 || r.LastID != 1001 {
		t.Fatalf("the batch: %+v", r)
	}
	want := mustLogOf(t, m)
	if len(want) != 1001 {
		t.Fatalf("the master holds %d entries", len(want))
	}
	for i, e := range want[1:] {
		if e.ID != uint64(i+2) || e.Message != msgs[i] {
			t.Fatalf("entry %d: %d %.10q, want id %d %.10q", i, e.ID, e.Message, i+2, msgs[i])
		}
	}
	for _, s := range []*node{s1, s2} {
		if err := sameLog(s, want); err != nil { // w=3: already there
			t.Fatal(err)
		}
	}
}

// TestLongPollOnSecondary: a long-poll on a secondary returns as soon as
// replication brings the next message.
func TestLongPollOnSecondary(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m)
	appendMsg(t, m, "a", 2)
	got := make(chan messagesReply, 1)
	errs := make(chan error, 1)
	go func() {
		p, err := getJSON[messagesReply](s1.url() + "/messages?from=2&waitMs=30000")
		got <- p
		errs <- err
	}()
	select { // nothing is there to answer with: the read must wait
	case p := <-got:
		t.Fatalf("the long-poll answered with nothing to read: %+v %v", p, <-errs)
	case <-time.After(300 * time.Millisecond): // a bounded watch, not a wait for an event
	}
	start := time.Now()
	appendMsg(t, m, "b", 1)
	select {
	case p := <-got:
		if err := <-errs; err != nil || len(p.Messages) != 1 || p.Messages[0].Message != "b" {
			t.Fatalf("the long-poll got %+v %v", p, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("the long-poll took %s after the append", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll did not return after the append")
	}
}

// TestStreamResumes: a consumer of a secondary's stream that loses its
// connection, and then the secondary itself (killed and restarted),
// resumes with Last-Event-ID and sees every message once, in order.
func TestStreamResumes(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m, "DATA_DIR="+t.TempDir(), "FSYNC=always")
	next, written := uint64(1), 0 // the next id to read; the messages written
	write := func(n, w int) {
		msgs := make([]string, n)
		for i := range msgs {
			msgs[i] = "m" + strconv.Itoa(written+i+1)
		}
		if r := batch(t, m, w, msgs...); r.Status != 201 {
			t.Fatalf("batch: %+v", r)
		}
		written += n
	}
	read := func(s *ssetest.Stream, n int) {
		for range n {
			s.Expect(next, "m"+strconv.Itoa(int(next)))
			next++
		}
	}
	s := ssetest.Open(t, s1.url()+"/messages/stream?from=1")
	write(100, 2)
	read(s, 50)
	s.Close() // the consumer's connection drops mid-way
	s = ssetest.Open(t, s1.url()+"/messages/stream", "Last-Event-ID", strconv.Itoa(int(next-1)))
	read(s, 50)
	write(100, 2)
	read(s, 30)
	s1.kill()
	write(100, 1) // while the secondary is down; it catches up after its restart
	s1.start()
	s = ssetest.Open(t, s1.url()+"/messages/stream", "Last-Event-ID", strconv.Itoa(int(next-1)))
	read(s, 170)
	if next != 301 {
		t.Fatalf("read up to %d", next-1)
	}
}

// TestStreamStalledConsumer: a consumer that reads nothing for 10 s while
// 100,000 messages of 1 KiB are appended costs the secondary at most a
// page of memory beyond the log itself, and then gets every message. The
// appends take longer than the default one-minute stream write timeout
// under -race on a loaded 2-core machine (past it the server ends a
// stalled stream, by design), so the secondary gets five minutes.
func TestStreamStalledConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("a 100 MiB log in -short mode")
	}
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m, "STREAM_WRITE_TIMEOUT=5m")
	s := ssetest.Open(t, s1.url()+"/messages/stream?from=1") // opened, then not read
	before := rss(t, s1)
	const total, size = 100000, 1024
	msgs := make([]string, 1000)
	start := time.Now()
	for b := range total / 1000 {
		for i := range msgs {
			msgs[i] = fmt.Sprintf("%06d%s", b*1000+i+1, strings.Repeat("s", size-6))
		}
		if r := batch(t, m, 2, msgs...); r.Status != 201 {
			t.Fatalf("batch %d: %+v", b, r)
		}
	}
	if rest := 10*time.Second - time.Since(start); rest > 0 {
		time.Sleep(rest) // the stall: the consumer reads nothing for 10 s in all
	}
	grew := rss(t, s1) - before
	logBytes := int64(total * (size + 16)) // message text plus the in-memory index
	t.Logf("stalled stream: secondary RSS grew %d MiB for a log of %d MiB", grew>>20, logBytes>>20)
	if bound := logBytes + logBytes/4 + 32<<20; grew > bound {
		t.Fatalf("the secondary grew %d MiB with a stalled stream; the log is %d MiB, the bound %d MiB",
			grew>>20, logBytes>>20, bound>>20)
	}
	for id := 1; id <= total; id++ {
		e, err := s.Next()
		if err != nil || e.ID != strconv.Itoa(id) || !strings.HasPrefix(e.Data, fmt.Sprintf(`{"id":%d,"message":"%06d`, id, id)) {
			t.Fatalf("after the stall, event %d: %.60v %v", id, e, err)
		}
	}
}

// rss is a node's resident memory, from /proc.
func rss(t *testing.T, n *node) int64 { return procStatus(t, n, "VmRSS") }
