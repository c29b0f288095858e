// Package frametest speaks replog's replication protocol by hand, for
// tests on either side: a Peer is one end of a real WebSocket connection
// that a test drives frame by frame, as a secondary (Dial) or as a master
// (Listen).
package frametest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/replog/replog/shared/frame"
)

// Timeout bounds every read a Peer waits for.
const Timeout = 5 * time.Second

// Peer is one end of a replication connection, driven by a test. Its
// methods fail the test, so call them from the test's goroutine.
type Peer struct {
	t    testing.TB
	Conn *websocket.Conn
}

// Dial connects to a master's /replicate at url (ws://…) and sends hello.
// The connection is closed when the test ends.
func Dial(t testing.TB, url string, hello frame.Frame) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	conn.SetReadLimit(1 << 24)
	t.Cleanup(func() { conn.CloseNow() })
	p := &Peer{t: t, Conn: conn}
	p.Send(hello)
	return p
}

// Master accepts the connections a secondary under test dials, and hands
// each to the test as a Peer.
type Master struct {
	t       testing.TB
	URL     string // ws://… to give the secondary
	conns   chan *websocket.Conn
	release chan struct{}
	once    sync.Once
}

// Listen starts a master that accepts connections until the test ends.
// Each connection stays open until the test closes it or ends.
func Listen(t testing.TB) *Master {
	m := &Master{t: t, conns: make(chan *websocket.Conn), release: make(chan struct{})}
	release := m.release
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		select {
		case m.conns <- conn:
			<-release // the test owns the connection until the end
		case <-release:
		}
		conn.CloseNow()
	}))
	m.URL = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		m.Close()
		srv.Close()
	})
	return m
}

// Close drops every connection, at once (a secondary that is stopping is
// not kept waiting for a close handshake nobody answers).
func (m *Master) Close() { m.once.Do(func() { close(m.release) }) }

// Accept waits for the secondary to connect and returns the connection
// and its hello.
func (m *Master) Accept() (*Peer, frame.Frame) {
	m.t.Helper()
	select {
	case conn := <-m.conns:
		conn.SetReadLimit(1 << 24)
		p := &Peer{t: m.t, Conn: conn}
		return p, p.Expect(frame.TypeHello)
	case <-time.After(Timeout):
		m.t.Fatal("the secondary did not connect")
		return nil, frame.Frame{}
	}
}

// Send writes f.
func (p *Peer) Send(f frame.Frame) {
	p.t.Helper()
	b, err := frame.Encode(f)
	if err != nil {
		p.t.Fatalf("encode %+v: %v", f, err)
	}
	p.SendRaw(string(b))
}

// SendRaw writes s as a text frame, as it is.
func (p *Peer) SendRaw(s string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := p.Conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// Read returns the next frame that is not a heartbeat.
func (p *Peer) Read() (frame.Frame, error) {
	for {
		f, err := p.ReadAny()
		if err != nil || f.Type != frame.TypeHeartbeat {
			return f, err
		}
	}
}

// ReadAny returns the next frame, whatever it is.
func (p *Peer) ReadAny() (frame.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	_, b, err := p.Conn.Read(ctx)
	if err != nil {
		return frame.Frame{}, err
	}
	return frame.Decode(b)
}

// Expect reads the next frame that is not a heartbeat and fails unless it
// is of type typ.
func (p *Peer) Expect(typ frame.Type) frame.Frame {
	p.t.Helper()
	f, err := p.Read()
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.Type != typ {
		p.t.Fatalf("got %+v, want a %s frame", f, typ)
	}
	return f
}

// ExpectAck reads the next frame and fails unless it is an ack of id.
func (p *Peer) ExpectAck(id uint64) {
	p.t.Helper()
	if f := p.Expect(frame.TypeAck); f.ID != id {
		p.t.Fatalf("ack of %d, want %d", f.ID, id)
	}
}

// ExpectIDs reads append frames until it has seen ids from..to, in order.
func (p *Peer) ExpectIDs(from, to uint64) {
	p.t.Helper()
	next := from
	for next <= to {
		for _, e := range p.Expect(frame.TypeAppend).Entries {
			if e.ID != next {
				p.t.Fatalf("got id %d, want %d", e.ID, next)
			}
			next++
		}
	}
}

// ExpectClosed reads frames, heartbeats included, until the other side
// closes the connection, and fails if it is still open after d. It
// returns the error that ended the connection (see websocket.CloseStatus).
func (p *Peer) ExpectClosed(d time.Duration) error {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if _, _, err := p.Conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				p.t.Fatalf("the connection is still open after %s", d)
			}
			return err
		}
	}
}

// HeartbeatsUntil reads heartbeats, echoing each when answer is set, until
// done reports true. It fails if that takes longer than d or anything but
// a heartbeat arrives.
func (p *Peer) HeartbeatsUntil(d time.Duration, answer bool, done func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			p.t.Fatalf("not there after %s of heartbeats", d)
		}
		hb, err := p.ReadAny()
		if err != nil || hb.Type != frame.TypeHeartbeat {
			p.t.Fatalf("waiting for heartbeats: %+v %v", hb, err)
		}
		if answer {
			p.Send(hb)
		}
	}
}

// Ack is a cumulative acknowledgement of every id up to id, as a
// secondary sends it (the secondary itself encodes its acks with
// frame.AppendAck).
func Ack(id uint64) frame.Frame { return frame.Frame{Type: frame.TypeAck, ID: id} }

// Entries is an append frame of ids, each with the message "m<id>".
func Entries(ids ...uint64) frame.Frame {
	f := frame.Frame{Type: frame.TypeAppend}
	for _, id := range ids {
		f.Entries = append(f.Entries, frame.Entry{ID: id, Message: "m" + strconv.FormatUint(id, 10)})
	}
	return f
}
