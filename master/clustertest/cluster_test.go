package clustertest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
)

// TestAcceptance is the course's scenario: a w=3 write waits for a second
// secondary without holding up anything else, and the late secondary
// receives the whole log in order.
func TestAcceptance(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m)

	if r := appendMsg(t, m, "m1", 1); r.Status != 201 || r.ID != 1 {
		t.Fatalf("m1: %+v", r)
	}
	if r := appendMsg(t, m, "m2", 2); r.Status != 201 || r.ID != 2 || r.Acks != 2 {
		t.Fatalf("m2: %+v", r)
	}
	m3 := make(chan reply, 1)
	go func() { m3 <- appendMsg(t, m, "m3", 3) }()
	poll.Check(t, 10*time.Second, func() error { return sameLog(s1, entries("m1", "m2", "m3")) })

	if r := appendMsg(t, m, "m4", 1); r.Status != 201 || r.ID != 4 {
		t.Fatalf("m4: %+v", r)
	}
	stillWaiting(t, m3, "m3 (w=3) with one secondary holding it")

	s2 := startSecondary(t, "s2", m)
	want := entries("m1", "m2", "m3", "m4")
	poll.Check(t, 10*time.Second, func() error { return sameLog(s2, want) })
	if r := awaitReply(t, m3, 10*time.Second, 3); r.ID != 3 {
		t.Fatalf("m3: %+v", r)
	}
	if err := sameLog(s1, want); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentAppendsConverge: a write concern of w means w nodes show
// the message when the reply arrives, and all nodes end with one log.
func TestConcurrentAppendsConverge(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3")
	s1, s2 := startSecondary(t, "s1", m), startSecondary(t, "s2", m)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	ws := make([]int, 100)
	for i := range ws {
		ws[i] = 1 + rng.IntN(3)
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			msg := fmt.Sprintf("c%d", i)
			r := appendMsg(t, m, msg, w)
			if r.Status != 201 || r.Acks < w {
				t.Errorf("%s w=%d: %+v", msg, w, r)
				return
			}
			if w == 3 {
				for _, s := range []*node{s1, s2} {
					if err := holds(s, r.ID, msg); err != nil {
						t.Errorf("w=3 reply for id %d, but %v", r.ID, err)
					}
				}
			}
		})
	}
	wg.Wait()
	want, err := logOf(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 100 {
		t.Fatalf("master holds %d messages", len(want))
	}
	checkGapFree(t, want)
	for _, s := range []*node{s1, s2} {
		poll.Check(t, 10*time.Second, func() error { return sameLog(s, want) })
	}
}

// holds checks that n shows msg with id now, without waiting.
func holds(n *node, id uint64, msg string) error {
	page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d&limit=1", n.url(), id))
	if err != nil {
		return err
	}
	if len(page.Messages) != 1 || page.Messages[0] != (frame.Entry{ID: id, Message: msg}) {
		return fmt.Errorf("%s shows %v at id %d, want %q", n.name, page.Messages, id, msg)
	}
	return nil
}

// TestKilledSecondaryCatchesUp: a SIGKILLed secondary restarts empty and
// is caught up by replay.
func TestKilledSecondaryCatchesUp(t *testing.T) {
	m := startMaster(t)
	s1, s2 := startSecondary(t, "s1", m), startSecondary(t, "s2", m)
	for i := range 20 {
		appendMsg(t, m, fmt.Sprintf("before-%d", i), 3)
	}
	s1.kill()
	for i := range 500 {
		if r := appendMsg(t, m, fmt.Sprintf("while-down-%d", i), 2); r.Status != 201 {
			t.Fatalf("append with s1 down: %+v", r)
		}
	}
	s1.start()
	want, err := logOf(m)
	if err != nil {
		t.Fatal(err)
	}
	checkGapFree(t, want)
	poll.Check(t, 20*time.Second, func() error { return sameLog(s1, want) })
	poll.Check(t, 5*time.Second, func() error { return sameLog(s2, want) })
	if r := appendMsg(t, m, "after", 3); r.Status != 201 || r.Acks != 3 {
		t.Fatalf("w=3 after the restart: %+v", r)
	}
}

// TestMasterRestartMakesSecondariesResync: a master restarted with an empty
// in-memory log has a new log id; a secondary drops its old copy instead
// of mixing two logs.
func TestMasterRestartMakesSecondariesResync(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m)
	for i := range 5 {
		appendMsg(t, m, fmt.Sprintf("old-%d", i), 2)
	}
	m.kill()
	m.start()
	if r := appendMsg(t, m, "new-0", 2); r.Status != 201 || r.ID != 1 {
		t.Fatalf("first append on the new log: %+v", r)
	}
	poll.Check(t, 10*time.Second, func() error { return sameLog(s1, entries("new-0")) })
}

// TestGracefulShutdown: SIGTERM ends both binaries cleanly with status 0.
func TestGracefulShutdown(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m)
	appendMsg(t, m, "x", 2)
	if code := s1.stop(); code != 0 {
		t.Fatalf("secondary exited %d on SIGTERM", code)
	}
	if code := m.stop(); code != 0 {
		t.Fatalf("master exited %d on SIGTERM", code)
	}
}

// entries numbers msgs 1, 2, 3, …
func entries(msgs ...string) []frame.Entry {
	out := make([]frame.Entry, len(msgs))
	for i, m := range msgs {
		out[i] = frame.Entry{ID: uint64(i + 1), Message: m}
	}
	return out
}
