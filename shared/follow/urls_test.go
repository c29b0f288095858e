package follow

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// runClient runs a client of st that dials urls, until the test ends;
// then the masters drop their connections first, as startClient's do, so
// that the client's close is not left waiting for an answer.
func runClient(t *testing.T, st store.Store, urls []string, masters ...*frametest.Master) *Client {
	t.Helper()
	opts := Options{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	c := New(Config{URLs: urls, Name: "s1", Store: st, Log: zaptest.NewLogger(t), Options: opts})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		for _, m := range masters {
			m.Close()
		}
		cancel()
		<-done
	})
	return c
}

// deadURL is a /replicate URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + l.Addr().String() + "/replicate"
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestClientSkipsADeadURL: the first URL refuses connections; the client
// goes on to the next one in the same round and follows it.
func TestClientSkipsADeadURL(t *testing.T) {
	st := store.NewMemory("")
	live := frametest.Listen(t)
	runClient(t, st, []string{deadURL(t), live.URL}, live)
	conn, hello := live.Accept()
	if hello.Name != "s1" || hello.Role != frame.RoleSecondary {
		t.Fatalf("hello %+v", hello)
	}
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
}

// TestClientMovesToAnotherMasterOfTheSameLog: the master it follows goes
// away; the next URL is a master of the same log (its successor on the
// same data), and the client resumes there from where it was, without
// dropping what it holds.
func TestClientMovesToAnotherMasterOfTheSameLog(t *testing.T) {
	st := store.NewMemory("")
	a, b := frametest.Listen(t), frametest.Listen(t)
	runClient(t, st, []string{a.URL, b.URL}, a, b)
	conn, _ := a.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1, 2, 3))
	conn.ExpectAck(3)
	a.Close() // a is gone: it drops the connection and every later one

	conn, hello := b.Accept()
	if hello.LogID != "L" || hello.LastID != 3 {
		t.Fatalf("hello to the second master %+v, want log L from 3", hello)
	}
	conn.Send(welcome("L", 4))
	conn.Send(frametest.Entries(4))
	conn.ExpectAck(4)
	got, _ := st.Read(nil, 1, 10, 1<<20)
	if st.LogID() != "L" || len(got) != 4 || got[0].Message != "m1" {
		t.Fatalf("after the move: log %q holds %v, want m1..m4 of L", st.LogID(), got)
	}
}

// TestClientRedialsTheMasterThatLastAccepted: after a disconnect the
// client starts again from the URL that last accepted its hello, not from
// the first. Both masters are up throughout: a client that dialed the
// first again would wait there for a welcome (DialTimeout, 10s), and the
// second would not see it in frametest.Timeout.
func TestClientRedialsTheMasterThatLastAccepted(t *testing.T) {
	st := store.NewMemory("")
	a, b := frametest.Listen(t), frametest.Listen(t)
	runClient(t, st, []string{a.URL, b.URL}, a, b)
	conn, _ := a.Accept()
	conn.Send(frame.Error("not the leader"))
	conn.Conn.CloseNow()

	conn, _ = b.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
	conn.Conn.CloseNow() // b drops it

	conn, hello := b.Accept()
	if hello.LastID != 1 {
		t.Fatalf("hello after the disconnect %+v, want from 1", hello)
	}
	conn.Send(welcome("L", 2))
	conn.Send(frametest.Entries(2))
	conn.ExpectAck(2)
}

// TestClientPrefer: a preferred URL is dialed first from the next dial
// on; an address the client was not given is refused and never dialed.
func TestClientPrefer(t *testing.T) {
	st := store.NewMemory("")
	a, b := frametest.Listen(t), frametest.Listen(t)
	c := runClient(t, st, []string{a.URL, b.URL}, a, b)
	if c.Prefer("ws://127.0.0.1:1/replicate") {
		t.Fatal("Prefer took a URL the client was not given")
	}
	conn, _ := a.Accept()
	conn.Send(welcome("L", 1))
	if !c.Prefer(b.URL) {
		t.Fatalf("Prefer refused %s, one of the client's URLs", b.URL)
	}
	conn.Conn.CloseNow()
	conn, _ = b.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1))
	conn.ExpectAck(1)
}

// TestClientSaysItsRole: the hello carries the name and role given (a
// standby will say its own), and secondary when none is.
func TestClientSaysItsRole(t *testing.T) {
	m := frametest.Listen(t)
	c := New(Config{URLs: []string{m.URL}, Name: "o1", Role: frame.RoleObserver, Store: store.NewMemory(""), Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { m.Close(); cancel(); <-done }()
	if _, hello := m.Accept(); hello.Name != "o1" || hello.Role != frame.RoleObserver {
		t.Fatalf("hello %+v, want o1 as an observer", hello)
	}
}
