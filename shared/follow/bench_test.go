package follow

import (
	"context"
	"testing"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// BenchmarkFollowAppend is the follower's hot path, one frame of one
// entry at a time over a real loopback WebSocket: read, decode, apply in
// the reader, store, ack. Allocations are the whole process's, the test's
// master and the growing in-memory log included: compare them between
// versions, not with zero.
func BenchmarkFollowAppend(b *testing.B) {
	fm := frametest.Listen(b)
	st := store.NewMemory("")
	c := New(Config{URLs: []string{fm.URL}, Name: "s1", Store: st, Log: zap.NewNop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { fm.Close(); cancel(); <-done }()
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	frames := make([][]byte, b.N)
	for i := range frames {
		var err error
		if frames[i], err = frame.Encode(frametest.Entries(uint64(i + 1))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := conn.Conn.Write(ctx, websocket.MessageText, frames[i]); err != nil {
			b.Fatal(err)
		}
		if _, _, err := conn.Conn.Read(ctx); err != nil { // the ack
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st.LastID() != uint64(b.N) {
		b.Fatalf("holds %d, want %d", st.LastID(), b.N)
	}
}
