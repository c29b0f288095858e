package frame

import (
	"context"
	"errors"
	"strings"
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
