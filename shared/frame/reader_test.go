package frame

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestReaderReusesItsBuffer: messages of any size, one after another,
// come back whole and unmixed through one Reader.
func TestReaderReusesItsBuffer(t *testing.T) {
	msgs := []string{strings.Repeat("a", 300<<10), "b", strings.Repeat("c", 70<<10), ""}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for _, m := range msgs {
			if err := conn.Write(r.Context(), websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		_, _, _ = conn.Read(r.Context()) // until the client closes
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	var r Reader
	for i, want := range msgs {
		typ, got, err := r.Read(ctx, conn)
		if err != nil || typ != websocket.MessageText || string(got) != want {
			t.Fatalf("message %d: %d bytes (%v, type %v), want %d", i, len(got), err, typ, len(want))
		}
	}
}
