package replication

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	t     testing.TB
	store store.Store
	hub   *Hub
	url   string
}

func newFixture(t testing.TB, opts Options) *fixture {
	return newFixtureOver(t, store.NewMemory("L"), opts)
}

// newFixtureOver is newFixture with the hub over st.
func newFixtureOver(t testing.TB, st store.Store, opts Options) *fixture {
	hub := NewHub(st, opts, zaptest.NewLogger(t))
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &fixture{t: t, store: st, hub: hub, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

func (f *fixture) append(msgs ...string) {
	for _, m := range msgs {
		if _, err := f.store.Append(store.Record{Message: m}); err != nil {
			f.t.Fatal(err)
		}
	} // the store's change signal wakes the sessions
}

func (f *fixture) dial(hello frame.Frame) *frametest.Peer {
	f.t.Helper()
	return frametest.Dial(f.t, f.url, hello)
}

// await runs Hub.Await for id in a goroutine; the channel gets its result.
func (f *fixture) await(id uint64, need int, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := f.hub.Await(context.Background(), id, need, timeout)
		done <- err
	}()
	return done
}

// acks is what Await says at once of id with a need no one can meet.
func (f *fixture) acks(id uint64) int {
	acks, _ := f.hub.Await(context.Background(), id, 100, time.Nanosecond)
	return acks
}

func TestHubStreamsCatchUpThenLive(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b", "c")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "L", 1))
	w := p.Expect(frame.TypeWelcome)
	if w.From != 2 || w.LogID != "L" || w.LastID != 3 {
		t.Fatalf("welcome %+v", w)
	}
	p.ExpectIDs(2, 3)
	f.append("d")
	p.ExpectIDs(4, 4)
}

func TestHubWriteConcernCountsAcks(t *testing.T) {
	f := newFixture(t, Options{})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	if acks := f.acks(1); acks != 1 {
		t.Fatalf("id 1 held by %d nodes before any ack", acks)
	}
	met := make(chan int, 1)
	go func() {
		acks, err := f.hub.Await(context.Background(), 1, 2, 0)
		if err != nil {
			acks = -1
		}
		met <- acks
	}()
	p.ExpectIDs(1, 1)
	p.Send(frametest.Ack(1))
	select {
	case acks := <-met:
		if acks != 2 {
			t.Fatalf("Await met with %d acks, want 2 (-1: an error)", acks)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ack did not satisfy the write")
	}
	if acks := f.acks(1); acks != 2 {
		t.Fatalf("id 1 held by %d nodes, want 2", acks)
	}
}

func TestHubAwaitTimesOutWithWhatItHas(t *testing.T) {
	f := newFixture(t, Options{})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	p.ExpectIDs(1, 1)
	p.Send(frametest.Ack(1))
	if _, err := f.hub.Await(context.Background(), 1, 2, 5*time.Second); err != nil {
		t.Fatalf("w=2 after the ack: %v", err)
	}
	acks, err := f.hub.Await(context.Background(), 1, 3, 20*time.Millisecond)
	var ce *ConcernError
	if !errors.Is(err, ErrConcernTimeout) || !errors.As(err, &ce) || acks != 2 || ce.Acks != 2 || ce.Need != 3 {
		t.Fatalf("w=3 with one secondary: acks %d, %v", acks, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.hub.Await(ctx, 1, 3, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await after the client left: %v", err)
	}
	if f.hub.Waiting() != 0 {
		t.Fatalf("%d waits left behind", f.hub.Waiting())
	}
}

func TestHubResendsAfterNack(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b", "c")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	p.ExpectIDs(1, 3)
	p.Send(frametest.Ack(1))
	p.Send(frame.Nack(2, "test"))
	p.ExpectIDs(2, 3)
}

// TestHubWindowBoundsInFlight: with Window ids sent and not acked, the
// session sends nothing more until an ack. The frame bound is set out of
// the way (four frames of one id), so that the window alone holds id 3
// back; no heartbeat in the test's time.
func TestHubWindowBoundsInFlight(t *testing.T) {
	f := newFixture(t, Options{Window: 2, MaxFrames: 4, BatchEntries: 1, HeartbeatInterval: time.Hour})
	f.append("a", "b", "c", "d")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	p.ExpectIDs(1, 2)
	got := make(chan frame.Frame, 1)
	go func() {
		fr, _ := p.ReadAny() // gives up after frametest.Timeout
		got <- fr
	}()
	select {
	case fr := <-got:
		t.Fatalf("with ids 1-2 in flight and a window of 2 the session sent %+v", fr)
	case <-time.After(200 * time.Millisecond): // ids 3-4 have been in the log all along: the loop has had its chance
	}
	p.Send(frametest.Ack(2))
	if fr := <-got; fr.Type != frame.TypeAppend || len(fr.Entries) != 1 || fr.Entries[0].ID != 3 {
		t.Fatalf("after the ack of 2: %+v, want id 3", fr)
	}
	p.ExpectIDs(4, 4)
}

func TestHubObserverIsNeverCounted(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b")
	p := f.dial(frame.Hello("watcher", frame.RoleObserver, "", 1))
	if w := p.Expect(frame.TypeWelcome); w.From != 2 {
		t.Fatalf("observer welcome %+v", w)
	}
	p.ExpectIDs(2, 2)
	p.Send(frametest.Ack(2)) // ignored
	f.append("c")
	p.ExpectIDs(3, 3)
	if acks := f.acks(1); acks != 1 || len(f.hub.Secondaries()) != 0 {
		t.Fatalf("an observer counted: acks %d, secondaries %v", acks, f.hub.Secondaries())
	}
}

func TestHubRefusesProtocolErrors(t *testing.T) {
	cases := map[string]func(f *fixture) *frametest.Peer{
		"unknown version": func(f *fixture) *frametest.Peer {
			h := frame.Hello("s1", frame.RoleSecondary, "", 0)
			h.Version = 99
			return f.dial(h)
		},
		"first frame not hello": func(f *fixture) *frametest.Peer { return f.dial(frametest.Ack(1)) },
		"ack for ids never sent": func(f *fixture) *frametest.Peer {
			p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
			p.Expect(frame.TypeWelcome)
			p.Send(frametest.Ack(7))
			return p
		},
		"garbage": func(f *fixture) *frametest.Peer {
			p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
			p.Expect(frame.TypeWelcome)
			p.SendRaw("not json")
			return p
		},
		"ahead of the master": func(f *fixture) *frametest.Peer { return f.dial(frame.Hello("s1", frame.RoleSecondary, "L", 5)) },
	}
	for name, dial := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Options{})
			p := dial(f)
			e := p.Expect(frame.TypeError)
			err := p.ExpectClosed(5 * time.Second)
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("after error %q: %v, want a policy-violation close", e.Error, err)
			}
		})
	}
}

func TestHubReconnectReplacesSession(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a")
	old := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	old.Expect(frame.TypeWelcome)
	old.ExpectIDs(1, 1)
	old.Send(frametest.Ack(1))
	// The node restarted empty: its new hello says it holds nothing.
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	old.ExpectClosed(5 * time.Second)
	if f.acks(1) != 1 {
		t.Fatal("the restarted secondary still counts as holding id 1")
	}
	p.ExpectIDs(1, 1)
	st := f.hub.Secondaries()
	if len(st) != 1 || !st[0].Connected || st[0].Lag != 1 {
		t.Fatalf("secondaries %+v", st)
	}
}

func TestHubCloseTellsPeers(t *testing.T) {
	f := newFixture(t, Options{})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	go f.hub.Close()
	err := p.ExpectClosed(5 * time.Second)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("on close the peer got %v, want going-away", err)
	}
}

func TestHubHeartbeatsAndHealth(t *testing.T) {
	f := newFixture(t, Options{HeartbeatInterval: 20 * time.Millisecond})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	status := func() Status { return f.hub.Secondaries()[0].Status }
	if status() != Healthy || f.hub.HealthyNodes() != 2 {
		t.Fatalf("just connected: %s, %d healthy nodes", status(), f.hub.HealthyNodes())
	}
	// Heartbeats keep coming; not answering them makes the peer unhealthy.
	p.HeartbeatsUntil(5*time.Second, false, func() bool { return status() == Unhealthy })
	if f.hub.HealthyNodes() != 1 {
		t.Fatalf("%d healthy nodes with the only secondary silent", f.hub.HealthyNodes())
	}
	// Answering them makes it healthy again.
	p.HeartbeatsUntil(5*time.Second, true, func() bool { return status() == Healthy })
}

func TestHubLargeBacklogInBatches(t *testing.T) {
	// Catch-up is sent as the acks come back, with no append to wake the
	// loop and no heartbeat in the test's time.
	f := newFixture(t, Options{BatchEntries: 100, HeartbeatInterval: time.Hour})
	for i := range 1000 {
		_, _ = f.store.Append(store.Record{Message: fmt.Sprintf("m%d", i)})
	}
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	for next := uint64(1); next <= 1000; {
		a := p.Expect(frame.TypeAppend)
		if a.Entries[0].ID != next || len(a.Entries) > 100 {
			t.Fatalf("frame of %d from id %d, want at most 100 from %d", len(a.Entries), a.Entries[0].ID, next)
		}
		next += uint64(len(a.Entries))
		p.Send(frametest.Ack(next - 1))
	}
}

func TestHubBoundsFramesInFlight(t *testing.T) {
	// No heartbeat in the test's time: the ack alone must wake the loop.
	f := newFixture(t, Options{MaxFrames: 1, HeartbeatInterval: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	p.ExpectIDs(1, 1)
	f.append("b")
	f.append("c") // both wait for the ack of the frame in flight ...
	p.Send(frametest.Ack(1))
	if a := p.Expect(frame.TypeAppend); len(a.Entries) != 2 || a.Entries[0].ID != 2 {
		t.Fatalf("after the ack: %+v, want ids 2 and 3 in one frame", a.Entries) // ... and leave together
	}
}

func TestHubForgetsLongGoneSecondaries(t *testing.T) {
	f := newFixture(t, Options{ForgetAfter: 20 * time.Millisecond})
	p := f.dial(frame.Hello("gone", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	stay := f.dial(frame.Hello("stays", frame.RoleSecondary, "", 0))
	stay.Expect(frame.TypeWelcome)
	p.Conn.CloseNow()
	poll.Check(t, 5*time.Second, func() error {
		if st := f.hub.Secondaries(); len(st) != 1 || st[0].Name != "stays" {
			return fmt.Errorf("a secondary gone for longer than ForgetAfter is still listed: %+v", st)
		}
		return nil
	})
}

// TestHubCloseDoesNotWaitForCatchUp: a session honours Close between any
// two frames, even with a long backlog still to send.
func TestHubCloseDoesNotWaitForCatchUp(t *testing.T) {
	const backlog = 100000
	f := newFixture(t, Options{BatchEntries: 1})
	for i := range backlog {
		_, _ = f.store.Append(store.Record{Message: fmt.Sprintf("m%d", i)})
	}
	p := f.dial(frame.Hello("watcher", frame.RoleObserver, "", 0))
	p.Expect(frame.TypeWelcome)
	p.ExpectIDs(1, 10)
	closed := make(chan struct{})
	go func() { f.hub.Close(); close(closed) }()
	got := 10
	var err error
	for {
		var a frame.Frame
		if a, err = p.ReadAny(); err != nil {
			break
		}
		got += len(a.Entries)
	}
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after Close the peer got %v, want going-away", err)
	}
	if got >= backlog {
		t.Fatalf("Close waited until all %d ids were sent", got)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

// TestHubLingersOnlyWhileNoWriteWaits: an append no write waits for is
// held back (here for the whole test) and leaves with the first append a
// write waits for (Await), in one frame.
func TestHubLingersOnlyWhileNoWriteWaits(t *testing.T) {
	f := newFixture(t, Options{Linger: time.Hour, HeartbeatInterval: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	got := make(chan frame.Frame, 1)
	go func() {
		fr, _ := p.ReadAny() // gives up after frametest.Timeout
		got <- fr
	}()
	f.append("a") // writeConcern 1: the store's change signal alone
	select {
	case fr := <-got:
		t.Fatalf("sent at once: %+v", fr)
	case <-time.After(200 * time.Millisecond): // the loop has had its chance to send it
	}
	f.append("b")
	select {
	case fr := <-got:
		t.Fatalf("sent before any write waited: %+v", fr)
	case <-time.After(50 * time.Millisecond):
	}
	done := f.await(2, 2, 0) // writeConcern 2
	if fr := <-got; fr.Type != frame.TypeAppend || len(fr.Entries) != 2 || fr.Entries[0].ID != 1 {
		t.Fatalf("once a write waits for id 2: %+v, want ids 1 and 2 in one frame", fr)
	}
	p.Send(frametest.Ack(2))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(frametest.Timeout):
		t.Fatal("the write is still waiting after the ack")
	}
}

// TestHubLingerRunsOut: a held append leaves when the linger runs out,
// with no further append, ack or heartbeat to wake the loop.
func TestHubLingerRunsOut(t *testing.T) {
	f := newFixture(t, Options{Linger: 20 * time.Millisecond, HeartbeatInterval: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	p.ExpectIDs(1, 1)
	f.append("b", "c")
	p.ExpectIDs(2, 3)
}

// TestHubAwaitHurries: a write that waits for an id a session holds back
// (an Idempotency-Key repeat with a higher writeConcern) gets it sent.
func TestHubAwaitHurries(t *testing.T) {
	f := newFixture(t, Options{Linger: time.Hour, HeartbeatInterval: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	done := f.await(1, 2, 0)
	p.ExpectIDs(1, 1)
	p.Send(frametest.Ack(1))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(frametest.Timeout):
		t.Fatal("the write is still waiting after the ack")
	}
}

// TestHubNoLingerSendsAtOnce: NoLinger sends a writeConcern 1 append at
// once, whatever Linger says.
func TestHubNoLingerSendsAtOnce(t *testing.T) {
	f := newFixture(t, Options{Linger: time.Hour, NoLinger: true, HeartbeatInterval: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	f.append("a")
	p.ExpectIDs(1, 1)
}

// TestRaiseLeavesTheHighest: callers of raise that race (Retain's and
// hurry's) never move the value down; each sees it at least at its own
// value once its call returns, and the highest is left.
func TestRaiseLeavesTheHighest(t *testing.T) {
	var a atomic.Uint64
	const callers, calls = 4, 200000
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			for i := range calls {
				v := uint64(i*callers + c + 1)
				raise(&a, v)
				if got := a.Load(); got < v {
					errs <- fmt.Errorf("after raise to %d the value is %d", v, got)
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := a.Load(); got != callers*calls {
		t.Fatalf("the value is %d, want %d", got, callers*calls)
	}
}

// TestHubRetainMovesOnlyUp: Retain never moves the hub's first id down.
func TestHubRetainMovesOnlyUp(t *testing.T) {
	f := newFixture(t, Options{})
	f.hub.Retain(10)
	f.hub.Retain(5)
	if got := f.hub.first.Load(); got != 10 {
		t.Fatalf("after Retain(10) and Retain(5) the first id is %d", got)
	}
}
