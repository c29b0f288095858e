package frame

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestReaderReusesItsBuffer: messages of any size, one after another,
// come back whole and unmixed through one Reader.
func TestReaderReusesItsBuffer(t *testing.T) {
	msgs := []string{strings.Repeat("a", 300<<10), "b", strings.Repeat("c", 70<<10), ""}
	ctx, conn := dialPeer(t, func(ctx context.Context, conn *websocket.Conn) {
		for _, m := range msgs {
			if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		_, _, _ = conn.Read(ctx) // until the client closes
	})
	var r Reader
	for i, want := range msgs {
		typ, got, err := r.Read(ctx, conn)
		if err != nil || typ != websocket.MessageText || string(got) != want {
			t.Fatalf("message %d: %d bytes (%v, type %v), want %d", i, len(got), err, typ, len(want))
		}
	}
}
