package follow

import (
	"fmt"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// lagIs waits until the client's own view of its lag is want.
func lagIs(t *testing.T, c *Client, want uint64, step string) {
	t.Helper()
	var got uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if got = c.Lag(); got == want {
			return
		}
	}
	t.Fatalf("%s: lag %d, want %d", step, got, want)
}

// TestClientLag: the secondary's lag is the master's last id as the
// welcome, append frames and heartbeats told it, minus what it holds; a
// new session's welcome replaces what an earlier master said.
func TestClientLag(t *testing.T) {
	st := store.NewMemory("")
	fm, c := startClientWith(t, st, Options{Faults: &switchable{}})
	conn, _ := fm.Accept()
	w := welcome("L", 1)
	w.LastID = 5
	conn.Send(w)
	lagIs(t, c, 5, "after a welcome at 5")

	conn.Send(frametest.Entries(1, 2))
	conn.ExpectAck(2)
	lagIs(t, c, 3, "holding 2 of 5")

	conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 1, LastID: 9})
	lagIs(t, c, 7, "holding 2 after a heartbeat at 9")

	conn.Send(frametest.Entries(3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
	conn.ExpectAck(12)
	lagIs(t, c, 0, "holding an append beyond the heartbeat")

	conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 2, LastID: 3})
	lagIs(t, c, 0, "a heartbeat behind what it holds")

	// While cut off, the secondary drops what the master sends: it falls
	// behind, and says so.
	cut := true
	if _, err := c.ChangeFaults(frame.Faults{CutOff: &cut}); err != nil {
		t.Fatal(err)
	}
	conn.Expect(frame.TypeFaults)
	conn.Send(frametest.Entries(13, 14))
	conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 3, LastID: 20})
	lagIs(t, c, 8, "cut off at 12 with the master at 20")

	conn.Conn.CloseNow()
	conn, hello := fm.Accept()
	if hello.LastID != 12 {
		t.Fatalf("hello from %d, want 12", hello.LastID)
	}
	w.LastID = 15
	conn.Send(w)
	lagIs(t, c, 3, fmt.Sprintf("a new session's welcome at %d", w.LastID))
}
