package replication

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	t     *testing.T
	store *store.Memory
	hub   *Hub
	url   string
}

func newFixture(t *testing.T, opts Options) *fixture {
	st := store.NewMemory("L")
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
	}
	f.hub.Notify()
}

// peer is a hand-driven secondary speaking raw frames.
type peer struct {
	t    *testing.T
	conn *websocket.Conn
}

func (f *fixture) dial(hello frame.Frame) *peer {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, f.url, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	conn.SetReadLimit(1 << 24)
	f.t.Cleanup(func() { conn.CloseNow() })
	p := &peer{t: f.t, conn: conn}
	p.send(hello)
	return p
}

func (p *peer) send(f frame.Frame) {
	p.t.Helper()
	b, _ := frame.Encode(f)
	if err := p.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) sendRaw(s string) {
	p.t.Helper()
	if err := p.conn.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next frame that is not a heartbeat.
func (p *peer) read() (frame.Frame, error) {
	for {
		f, err := p.readAny()
		if err != nil || f.Type != frame.TypeHeartbeat {
			return f, err
		}
	}
}

func (p *peer) readAny() (frame.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := p.conn.Read(ctx)
	if err != nil {
		return frame.Frame{}, err
	}
	return frame.Decode(b)
}

func (p *peer) expect(typ frame.Type) frame.Frame {
	p.t.Helper()
	f, err := p.read()
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.Type != typ {
		p.t.Fatalf("got %+v, want a %s frame", f, typ)
	}
	return f
}

// expectClosed reads frames, heartbeats included, until the master closes
// the connection, and fails if it is still open after d.
func (p *peer) expectClosed(d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if _, _, err := p.conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				p.t.Fatalf("the connection is still open after %s", d)
			}
			return
		}
	}
}

// expectIDs reads append frames until it has seen ids from..to in order.
func (p *peer) expectIDs(from, to uint64) {
	p.t.Helper()
	next := from
	for next <= to {
		f := p.expect(frame.TypeAppend)
		for _, e := range f.Entries {
			if e.ID != next {
				p.t.Fatalf("got id %d, want %d", e.ID, next)
			}
			next++
		}
	}
}

func TestHubStreamsCatchUpThenLive(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b", "c")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "L", 1))
	w := p.expect(frame.TypeWelcome)
	if w.From != 2 || w.LogID != "L" || w.LastID != 3 {
		t.Fatalf("welcome %+v", w)
	}
	p.expectIDs(2, 3)
	f.append("d")
	p.expectIDs(4, 4)
}

func TestHubWriteConcernCountsAcks(t *testing.T) {
	f := newFixture(t, Options{})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	f.append("a")
	wait := f.hub.Wait(1, 1)
	if wait == nil {
		t.Fatal("id 1 counted as held before any ack")
	}
	p.expectIDs(1, 1)
	p.send(frame.Ack(1))
	select {
	case <-wait.Done:
	case <-time.After(5 * time.Second):
		t.Fatal("the ack did not satisfy the write")
	}
	if f.hub.Holders(1) != 1 {
		t.Fatalf("Holders(1) = %d", f.hub.Holders(1))
	}
}

func TestHubResendsAfterNack(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b", "c")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	p.expectIDs(1, 3)
	p.send(frame.Ack(1))
	p.send(frame.Nack(2, "test"))
	p.expectIDs(2, 3)
}

func TestHubWindowBoundsInFlight(t *testing.T) {
	f := newFixture(t, Options{Window: 2, BatchEntries: 1})
	f.append("a", "b", "c", "d")
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	p.expectIDs(1, 2)
	p.send(frame.Ack(2)) // nothing more may come before this ack
	p.expectIDs(3, 4)
}

func TestHubObserverIsNeverCounted(t *testing.T) {
	f := newFixture(t, Options{})
	f.append("a", "b")
	p := f.dial(frame.Hello("watcher", frame.RoleObserver, "", 1))
	if w := p.expect(frame.TypeWelcome); w.From != 2 {
		t.Fatalf("observer welcome %+v", w)
	}
	p.expectIDs(2, 2)
	p.send(frame.Ack(2)) // ignored
	f.append("c")
	p.expectIDs(3, 3)
	if f.hub.Holders(1) != 0 || len(f.hub.Secondaries()) != 0 {
		t.Fatalf("an observer counted: holders %d, secondaries %v", f.hub.Holders(1), f.hub.Secondaries())
	}
}

func TestHubRefusesProtocolErrors(t *testing.T) {
	cases := map[string]func(f *fixture) *peer{
		"unknown version": func(f *fixture) *peer {
			h := frame.Hello("s1", frame.RoleSecondary, "", 0)
			h.Version = 99
			return f.dial(h)
		},
		"first frame not hello": func(f *fixture) *peer { return f.dial(frame.Ack(1)) },
		"ack for ids never sent": func(f *fixture) *peer {
			p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
			p.expect(frame.TypeWelcome)
			p.send(frame.Ack(7))
			return p
		},
		"garbage": func(f *fixture) *peer {
			p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
			p.expect(frame.TypeWelcome)
			p.sendRaw("not json")
			return p
		},
		"ahead of the master": func(f *fixture) *peer { return f.dial(frame.Hello("s1", frame.RoleSecondary, "L", 5)) },
	}
	for name, dial := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Options{})
			p := dial(f)
			e := p.expect(frame.TypeError)
			_, err := p.read()
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
	old.expect(frame.TypeWelcome)
	old.expectIDs(1, 1)
	old.send(frame.Ack(1))
	// The node restarted empty: its new hello says it holds nothing.
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	old.expectClosed(5 * time.Second)
	if f.hub.Holders(1) != 0 {
		t.Fatal("the restarted secondary still counts as holding id 1")
	}
	p.expectIDs(1, 1)
	st := f.hub.Secondaries()
	if len(st) != 1 || !st[0].Connected || st[0].Lag != 1 {
		t.Fatalf("secondaries %+v", st)
	}
}

func TestHubCloseTellsPeers(t *testing.T) {
	f := newFixture(t, Options{})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	go f.hub.Close()
	_, err := p.read()
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("on close the peer got %v, want going-away", err)
	}
}

func TestHubHeartbeatsAndHealth(t *testing.T) {
	f := newFixture(t, Options{HeartbeatInterval: 20 * time.Millisecond})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	status := func() Status { return f.hub.Secondaries()[0].Status }
	if status() != Healthy || f.hub.HealthyNodes() != 2 {
		t.Fatalf("just connected: %s, %d healthy nodes", status(), f.hub.HealthyNodes())
	}
	// Heartbeats keep coming; not answering them makes the peer unhealthy.
	p.heartbeatsUntil(5*time.Second, func() bool { return status() == Unhealthy }, false)
	if f.hub.HealthyNodes() != 1 {
		t.Fatalf("%d healthy nodes with the only secondary silent", f.hub.HealthyNodes())
	}
	// Answering them makes it healthy again.
	p.heartbeatsUntil(5*time.Second, func() bool { return status() == Healthy }, true)
}

// heartbeatsUntil reads heartbeats, echoing each when answer is set, until
// done reports true; it fails if that takes longer than d or anything but
// a heartbeat arrives.
func (p *peer) heartbeatsUntil(d time.Duration, done func() bool, answer bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			p.t.Fatalf("not there after %s of heartbeats", d)
		}
		hb, err := p.readAny()
		if err != nil || hb.Type != frame.TypeHeartbeat {
			p.t.Fatalf("waiting for heartbeats: %+v %v", hb, err)
		}
		if answer {
			p.send(hb)
		}
	}
}

func TestHubLargeBacklogInBatches(t *testing.T) {
	f := newFixture(t, Options{BatchEntries: 100})
	for i := range 1000 {
		_, _ = f.store.Append(store.Record{Message: fmt.Sprintf("m%d", i)})
	}
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	for next := uint64(1); next <= 1000; {
		a := p.expect(frame.TypeAppend)
		if a.Entries[0].ID != next || len(a.Entries) > 100 {
			t.Fatalf("frame of %d from id %d, want at most 100 from %d", len(a.Entries), a.Entries[0].ID, next)
		}
		next += uint64(len(a.Entries))
		p.send(frame.Ack(next - 1))
	}
}

func TestHubBoundsFramesInFlight(t *testing.T) {
	f := newFixture(t, Options{MaxFrames: 1})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	f.append("a")
	p.expectIDs(1, 1)
	f.append("b")
	f.append("c") // both wait for the ack of the frame in flight ...
	p.send(frame.Ack(1))
	if a := p.expect(frame.TypeAppend); len(a.Entries) != 2 || a.Entries[0].ID != 2 {
		t.Fatalf("after the ack: %+v, want ids 2 and 3 in one frame", a.Entries) // ... and leave together
	}
}

func TestHubForgetsLongGoneSecondaries(t *testing.T) {
	f := newFixture(t, Options{ForgetAfter: 20 * time.Millisecond})
	p := f.dial(frame.Hello("gone", frame.RoleSecondary, "", 0))
	p.expect(frame.TypeWelcome)
	stay := f.dial(frame.Hello("stays", frame.RoleSecondary, "", 0))
	stay.expect(frame.TypeWelcome)
	p.conn.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := f.hub.Secondaries()
		if len(st) == 1 && st[0].Name == "stays" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a secondary gone for longer than ForgetAfter is still listed: %+v", st)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
