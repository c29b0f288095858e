package replication

import (
	"context"
	"fmt"
	"testing"

	"github.com/coder/websocket"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// BenchmarkSession is one session's hot path over a real WebSocket on
// loopback, with a peer that acks every frame at once: an append, its
// trip to the peer and the ack back. "w=2" waits for each append's ack
// before the next (the round trip); "w=1" appends without waiting, and
// waits for the last (the stream, gathered by the linger).
func BenchmarkSession(b *testing.B) {
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("w=%d", w), func(b *testing.B) {
			st := store.NewMemory("L") // called as itself: through the Store interface the variadic records would escape
			f := newFixtureOver(b, st, Options{})
			p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
			p.Expect(frame.TypeWelcome)
			go ackAll(p.Conn)
			rec := store.Record{Message: "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}
			b.ReportAllocs()
			var last uint64
			for b.Loop() {
				last, _ = st.Append(rec)
				if w > 1 {
					if _, err := f.hub.Await(context.Background(), last, w, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			if _, err := f.hub.Await(context.Background(), last, 2, 0); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// ackAll acks each append frame the peer gets, until the connection closes.
func ackAll(conn *websocket.Conn) {
	var buf []byte
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		f, err := frame.Decode(data)
		if err != nil || f.Type != frame.TypeAppend || len(f.Entries) == 0 {
			continue
		}
		buf = frame.AppendAck(buf[:0], f.Entries[len(f.Entries)-1].ID)
		if err := conn.Write(context.Background(), websocket.MessageText, buf); err != nil {
			return
		}
	}
}
