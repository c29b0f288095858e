package frame

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestReaderReusesItsBuffer: messages of any size, one after another,
// come back whole and unmixed through one Reader.
func TestReaderReusesItsBuffer(t *testing.T) {
	msgs := []string{strings.Repeat("a", 300<<10), "b", strings.Repeat("c", 70<<10), ""}
	_, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		for _, m := range msgs {
			if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		_, _, _ = conn.Read(ctx) // until the client closes
	})
	r := NewReader(conn, 0)
	for i, want := range msgs {
		typ, got, err := r.Read()
		if err != nil || typ != websocket.MessageText || string(got) != want {
			t.Fatalf("message %d: %d bytes (%v, type %v), want %d", i, len(got), err, typ, len(want))
		}
	}
}

// TestReaderBoundsEachRead: a peer that keeps sending is read for well
// past the timeout in all; one that falls silent fails the read that
// waits, after the timeout, with the connection closed.
func TestReaderBoundsEachRead(t *testing.T) {
	_, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		for range 6 { // 300 ms of messages, then silence
			if err := conn.Write(ctx, websocket.MessageText, []byte("m")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the peer's pace, not a wait for the reader
		}
		<-ctx.Done()
	})
	r := NewReader(conn, 150*time.Millisecond)
	for i := range 6 {
		if _, got, err := r.Read(); err != nil || string(got) != "m" {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, _, err := r.Read(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the read of a silent peer failed with %v, want a timeout", err)
		}
		if took := time.Since(start); took < 100*time.Millisecond {
			t.Fatalf("the read failed after %s, before its timeout", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read from a silent peer still waits after 5 s")
	}
}

// TestReaderExcusedSilenceKeepsReading: a timeout that runs out while
// excused says the silence was the reader's own doing leaves the
// connection open, and the Read takes what comes after; once not
// excused, the Read fails as a silent peer's.
func TestReaderExcusedSilenceKeepsReading(t *testing.T) {
	send := make(chan struct{})
	_, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		select {
		case <-send:
		case <-ctx.Done():
			return
		}
		_ = conn.Write(ctx, websocket.MessageText, []byte("late"))
		<-ctx.Done()
	})
	var asked atomic.Int32
	excuses := int32(2)
	r := NewReaderExcusing(conn, 20*time.Millisecond, func() bool {
		n := asked.Add(1)
		if n == excuses {
			close(send) // the peer answers after the second excuse
		}
		return n <= excuses
	})
	if _, got, err := r.Read(); err != nil || string(got) != "late" {
		t.Fatalf("read %q, %v; want the message after two excused timeouts", got, err)
	}
	if n := asked.Load(); n < excuses {
		t.Fatalf("excused asked %d times, want at least %d", n, excuses)
	}
	if _, _, err := r.Read(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the read once no longer excused failed with %v, want a timeout", err)
	}
}
