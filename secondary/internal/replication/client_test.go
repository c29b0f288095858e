package replication

import (
	"context"
	"fmt"
	"net/http"
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

// fakeMaster accepts the client's connections and lets a test speak for
// the master frame by frame.
type fakeMaster struct {
	t     *testing.T
	conns chan *websocket.Conn
}

func startClient(t *testing.T, st store.Store) *fakeMaster {
	fm := &fakeMaster{t: t, conns: make(chan *websocket.Conn)}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		select {
		case fm.conns <- conn:
			<-release // the test owns the connection until the end
		case <-release:
		}
		conn.CloseNow()
	}))
	c := NewClient("ws"+strings.TrimPrefix(srv.URL, "http"), "s1", st,
		Options{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		close(release)
		<-done
		srv.Close()
	})
	return fm
}

// accept waits for the client to connect and returns its hello.
func (fm *fakeMaster) accept() (*websocket.Conn, frame.Frame) {
	fm.t.Helper()
	select {
	case conn := <-fm.conns:
		return conn, fm.read(conn, frame.TypeHello)
	case <-time.After(5 * time.Second):
		fm.t.Fatal("the client did not connect")
		return nil, frame.Frame{}
	}
}

func (fm *fakeMaster) send(conn *websocket.Conn, f frame.Frame) {
	fm.t.Helper()
	b, _ := frame.Encode(f)
	if err := conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		fm.t.Fatal(err)
	}
}

func (fm *fakeMaster) read(conn *websocket.Conn, typ frame.Type) frame.Frame {
	fm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		fm.t.Fatalf("waiting for %s: %v", typ, err)
	}
	f, err := frame.Decode(b)
	if err != nil || f.Type != typ {
		fm.t.Fatalf("got %s (%v), want a %s frame", b, err, typ)
	}
	return f
}

func welcome(logID string, from uint64) frame.Frame {
	return frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, LogID: logID, From: from, MaxFrameBytes: 1 << 20}
}

func appendOf(ids ...uint64) frame.Frame {
	f := frame.Frame{Type: frame.TypeAppend}
	for _, id := range ids {
		f.Entries = append(f.Entries, frame.Entry{ID: id, Message: fmt.Sprintf("m%d", id)})
	}
	return f
}

func TestClientAppliesAndAcks(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, hello := fm.accept()
	if hello.Name != "s1" || hello.LastID != 0 || hello.Version != frame.Version {
		t.Fatalf("hello %+v", hello)
	}
	fm.send(conn, welcome("L", 1))
	fm.send(conn, appendOf(1, 2))
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 2 {
		t.Fatalf("ack %d, want 2", ack.ID)
	}
	if st.LastID() != 2 || st.LogID() != "L" {
		t.Fatalf("store at %d of %q", st.LastID(), st.LogID())
	}
	fm.send(conn, appendOf(2)) // a duplicate is still acked
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 2 {
		t.Fatalf("ack %d after a duplicate, want 2", ack.ID)
	}
}

func TestClientAsksToResendAGap(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, _ := fm.accept()
	fm.send(conn, welcome("L", 1))
	fm.send(conn, appendOf(1))
	fm.read(conn, frame.TypeAck)
	fm.send(conn, appendOf(3, 4))
	if nack := fm.read(conn, frame.TypeNack); nack.From != 2 {
		t.Fatalf("nack from %d, want 2", nack.From)
	}
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 1 {
		t.Fatalf("ack %d while 2 is missing, want 1", ack.ID)
	}
	fm.send(conn, appendOf(2, 3, 4))
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 4 {
		t.Fatalf("ack %d after the resend, want 4", ack.ID)
	}
}

func TestClientResumesAfterDisconnect(t *testing.T) {
	st := store.NewMemory("")
	fm := startClient(t, st)
	conn, _ := fm.accept()
	fm.send(conn, welcome("L", 1))
	fm.send(conn, appendOf(1, 2))
	fm.read(conn, frame.TypeAck)
	conn.CloseNow()
	conn, hello := fm.accept()
	if hello.LogID != "L" || hello.LastID != 2 {
		t.Fatalf("hello after reconnect %+v, want log L from 2", hello)
	}
	fm.send(conn, welcome("L", 3))
	fm.send(conn, appendOf(3))
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 3 {
		t.Fatalf("ack %d", ack.ID)
	}
}

func TestClientDropsAnotherLog(t *testing.T) {
	st := store.NewMemory("OLD")
	for range 3 {
		_, _ = st.Append(store.Record{Message: "old"})
	}
	fm := startClient(t, st)
	conn, hello := fm.accept()
	if hello.LogID != "OLD" || hello.LastID != 3 {
		t.Fatalf("hello %+v", hello)
	}
	fm.send(conn, welcome("NEW", 1))
	fm.send(conn, appendOf(1))
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 1 {
		t.Fatalf("ack %d", ack.ID)
	}
	got, _ := st.Read(nil, 1, 10, 1<<20)
	if st.LogID() != "NEW" || len(got) != 1 || got[0].Message != "m1" {
		t.Fatalf("after resync: log %q holds %v", st.LogID(), got)
	}
}

func TestClientRedialsAfterRefusal(t *testing.T) {
	fm := startClient(t, store.NewMemory(""))
	conn, _ := fm.accept()
	fm.send(conn, frame.Error("go away"))
	conn.CloseNow()
	conn, hello := fm.accept()
	if hello.Name != "s1" || hello.LastID != 0 {
		t.Fatalf("hello after the refusal %+v", hello)
	}
	fm.send(conn, welcome("L", 1))
	fm.send(conn, appendOf(1))
	if ack := fm.read(conn, frame.TypeAck); ack.ID != 1 {
		t.Fatalf("ack %d on the new session, want 1", ack.ID)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := range 40 {
		seen := map[time.Duration]bool{}
		for range 20 {
			d := backoff(attempt, lo, hi)
			if d < lo/2 || d > hi {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, lo/2, hi)
			}
			seen[d] = true
		}
		// 20 draws from at least 50ms of nanoseconds: equal ones mean no jitter.
		if len(seen) < 15 {
			t.Fatalf("attempt %d: 20 backoffs took only %d values: not jittered", attempt, len(seen))
		}
	}
}
