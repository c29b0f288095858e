package clustertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi/ssetest"
	"github.com/replog/replog/shared/poll"
)

// blackhole drops everything on the links between n and each of others,
// both ways, until heal; the connections stay open, so that n's peers
// go on counting as healthy until their silence shows (2 heartbeat
// intervals), and n takes writes until then.
func (fc *failoverCluster) blackhole(n *node, others ...*node) {
	for k, p := range fc.links {
		for _, o := range others {
			if (k[0] == n.name && k[1] == o.name) || (k[0] == o.name && k[1] == n.name) {
				p.Blackhole()
			}
		}
	}
}

// readIDs is GET path on n: the ids of the page.
func readIDs(n *node, path string) ([]uint64, error) {
	var page struct{ Messages []frame.Entry }
	if err := n.GetJSON(path, &page); err != nil {
		return nil, err
	}
	ids := make([]uint64, len(page.Messages))
	for i, e := range page.Messages {
		ids[i] = e.ID
	}
	return ids, nil
}

// commitIDOf is n's /health commitId.
func commitIDOf(n *node) (uint64, error) {
	var h struct {
		CommitID *uint64 `json:"commitId"`
	}
	if err := n.GetJSON("/health", &h); err != nil {
		return 0, err
	}
	if h.CommitID == nil {
		return 0, fmt.Errorf("%s /health has no commitId", n.name)
	}
	return *h.CommitID, nil
}

// TestFailoverCommittedReadsWaitForAMajority: a w=1 write that only the
// leader and one secondary hold shows on that secondary at once without
// committed=true, and not with it — not even to a long-poll — until a
// majority holds it; then the long-poll answers it, and every node's
// /health commitId passes it.
func TestFailoverCommittedReadsWaitForAMajority(t *testing.T) {
	// The leader takes writes for 2 heartbeat intervals after its peers
	// fall silent, and leads for FAILOVER_TIMEOUT: long enough here for
	// the checks made while it hears only s1.
	fc := startFailoverWith(t, 3, 2, true, "HEARTBEAT_INTERVAL=500ms", "FAILOVER_TIMEOUT=4s")
	leader := fc.leader()
	s1, s2 := fc.secondaries[0], fc.secondaries[1]
	if r := appendMsg(t, leader, "everywhere", 5); r.Status != http.StatusCreated {
		t.Fatalf("append at w=5: %+v", r)
	}
	// The leader reaches s1 only: 2 of CLUSTER_SIZE 5.
	fc.blackhole(leader, append(fc.without(leader), s2)...)
	r := appendMsg(t, leader, "on two nodes", 1)
	if r.Status != http.StatusCreated {
		t.Fatalf("append at w=1 to the leader cut off from all but s1: %+v", r)
	}
	id := r.ID
	path := fmt.Sprintf("/messages?from=%d", id)
	poll.Check(t, 5*time.Second, func() error {
		ids, err := readIDs(s1, path)
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("s1 shows %v (%v) from id %d, want the w=1 write", ids, err, id)
		}
		return nil
	})
	if ids, err := readIDs(s1, path+"&committed=true"); err != nil || len(ids) != 0 {
		t.Fatalf("s1 with committed=true shows %v (%v) from id %d: a write only 2 of 5 nodes hold", ids, err, id)
	}
	for _, n := range []*node{leader, s1} {
		if c, err := commitIDOf(n); err != nil || c >= id {
			t.Fatalf("%s /health commitId %d (%v) while only 2 of 5 hold id %d", n.name, c, err, id)
		}
	}
	type answer struct {
		ids []uint64
		err error
		at  time.Time
	}
	polled := make(chan answer, 1)
	go func() {
		ids, err := readIDs(s1, path+"&committed=true&waitMs=30000")
		polled <- answer{ids, err, time.Now()}
	}()
	// The long-poll is waiting for the commit id, not for the message it
	// already holds: it has not answered before the heal.
	select {
	case a := <-polled:
		t.Fatalf("the committed long-poll answered %v (%v) before a majority held id %d", a.ids, a.err, id)
	case <-time.After(300 * time.Millisecond):
	}
	healed := time.Now()
	fc.heal()
	select {
	case a := <-polled:
		if a.err != nil || len(a.ids) != 1 || a.ids[0] != id {
			t.Fatalf("the committed long-poll after the heal: %v %v, want id %d", a.ids, a.err, id)
		}
		t.Logf("the committed long-poll answered %s after the heal", a.at.Sub(healed).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the committed long-poll did not answer after the heal")
	}
	for _, n := range fc.all() {
		poll.Check(t, 20*time.Second, func() error {
			if c, err := commitIDOf(n); err != nil || c < id {
				return fmt.Errorf("%s /health commitId %d (%v), want at least %d", n.name, c, err, id)
			}
			return nil
		})
	}
}

// events reads s's events into a channel until the stream ends.
func events(s *ssetest.Stream) <-chan ssetest.Event {
	ch := make(chan ssetest.Event, 1024)
	go func() {
		defer close(ch)
		for {
			e, err := s.Next()
			if err != nil {
				return
			}
			ch <- e
		}
	}()
	return ch
}

// TestFailoverStreamEndsWithRollback: a stream on a leader that is cut
// off sends the w=1 writes it takes; when it rejoins and rolls them back,
// the stream ends with event rollback naming the last id that stays (all
// it sent before, held by a majority, stays). A committed stream on the
// same node never sent them, and goes on with the new leader's writes.
func TestFailoverStreamEndsWithRollback(t *testing.T) {
	// The cut-off leader takes writes for 2 heartbeat intervals.
	fc := startFailoverWith(t, 3, 2, true, "HEARTBEAT_INTERVAL=500ms", "FAILOVER_TIMEOUT=3s")
	old := fc.leader()
	for i := range 3 {
		if r := appendMsg(t, old, fmt.Sprint("before-", i), 5); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	all := ssetest.Open(t, old.url()+"/messages/stream?from=1")
	committed := ssetest.Open(t, old.url()+"/messages/stream?from=1&committed=true")
	allEvents, committedEvents := events(all), events(committed)
	next := func(ch <-chan ssetest.Event, what string) ssetest.Event {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("%s ended", what)
			}
			return e
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no event in 30s", what)
		}
		return ssetest.Event{}
	}
	for i := range 3 {
		for what, ch := range map[string]<-chan ssetest.Event{"stream": allEvents, "committed stream": committedEvents} {
			if e := next(ch, what); e.ID != fmt.Sprint(i+1) {
				t.Fatalf("%s: %+v, want id %d", what, e, i+1)
			}
		}
	}
	fc.blackhole(old, append(fc.without(old), fc.secondaries...)...)
	lost := 0
	for i := range 3 {
		if r := appendMsg(t, old, fmt.Sprint("cut-", i), 1); r.Status == http.StatusCreated {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("the cut-off leader took no w=1 write: the experiment tested nothing")
	}
	for range lost {
		if e := next(allEvents, "stream"); e.Kind != "" || !strings.Contains(e.Data, "cut-") {
			t.Fatalf("stream of the cut-off leader: %+v, want a w=1 write", e)
		}
	}
	// Majority writes at the new leader (a retry after an unknown
	// outcome may write one twice: the checks below allow it).
	for i := range 3 {
		poll.Check(t, 30*time.Second, func() error {
			leader := fc.leader(old)
			if leader == old {
				return fmt.Errorf("the others still name %s, cut off, leader", old.name)
			}
			if r := appendMsg(t, leader, fmt.Sprint("after-", i), 3); r.Status != http.StatusCreated {
				return fmt.Errorf("append to %s: %+v", leader.name, r)
			}
			return nil
		})
	}
	fc.heal()
	e := next(allEvents, "stream")
	for e.Kind == "" { // a write the cut-off leader took since (a retry, say)
		e = next(allEvents, "stream")
	}
	if e.Kind != "rollback" || e.Data != "3" {
		t.Fatalf("the stream after its node rolled back ids 4..%d: %+v, want event rollback with data 3", 3+lost, e)
	}
	if e, ok := <-allEvents; ok {
		t.Fatalf("the stream goes on after its rollback event: %+v", e)
	}
	// The committed stream sent none of the rolled-back writes: it goes
	// on with the new leader's, never ending with a rollback.
	for seen := 0; seen < 3; {
		e := next(committedEvents, "committed stream")
		var entry frame.Entry
		if err := json.Unmarshal([]byte(e.Data), &entry); e.Kind != "" || err != nil || !strings.HasPrefix(entry.Message, "after-") {
			t.Fatalf("committed stream after the failover: %+v, want the new leader's writes", e)
		}
		if entry.Message == fmt.Sprint("after-", seen) {
			seen++
		}
	}
}
