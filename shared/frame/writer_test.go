package frame

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWriterBoundsEachWrite: frames go out while the peer reads; once it
// stops reading and the buffers fill, the write that waits fails after
// the timeout, with the connection closed.
func TestWriterBoundsEachWrite(t *testing.T) {
	reading := make(chan struct{})
	_, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		for range 3 { // then stops reading, connection open
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
		close(reading)
		<-ctx.Done()
	})
	w := NewWriter(conn, 200*time.Millisecond)
	for range 3 {
		if err := w.Send(ack(1)); err != nil {
			t.Fatalf("while the peer reads: %v", err)
		}
	}
	<-reading
	big := []byte(strings.Repeat("x", 64<<10))
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- w.Write(big) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a write to a peer that reads nothing still waits after 5 s")
		}
		if err == nil {
			if time.Now().After(deadline) {
				t.Fatal("writes to a peer that reads nothing still succeed after 10 s")
			}
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the write failed with %v, want a timeout", err)
		}
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Fatalf("the write failed after %s, before its timeout", took)
		}
		break
	}
	if err := w.Send(ack(2)); err == nil {
		t.Fatal("a write after the timeout succeeded on a closed connection")
	}
}

// TestWriterSendsForThePeersVersion: a heartbeat of epoch 1 reaches a
// version-1 peer as the release before wrote it, and a version-2 peer
// with its epoch.
func TestWriterSendsForThePeersVersion(t *testing.T) {
	got := make(chan string, 2)
	_, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		for range 2 {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			got <- string(b)
		}
	})
	w := NewWriter(conn, 5*time.Second)
	beat := singleMasterFrames()["heartbeat"]
	for _, v := range []int{1, 2} {
		if err := w.SendFor(beat, v); err != nil {
			t.Fatal(err)
		}
	}
	if b := <-got; b != string(v1Golden(t, "heartbeat")) {
		t.Errorf("to version 1: %s", b)
	}
	if b := <-got; !strings.Contains(b, `"epoch":1`) || !strings.Contains(b, `"quorumId":49`) {
		t.Errorf("to version 2: %s", b)
	}
	if err := w.SendFor(Frame{Type: TypePromote, Name: "m2"}, 1); err == nil {
		t.Error("a promote frame went to a version-1 peer")
	}
}
