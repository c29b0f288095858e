package follow

import (
	"testing"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// TestFollowerKeepsTheCommitIDItHears: the commit id of an append or a
// heartbeat is kept (the highest heard: a frame without one, or with a
// lower one, does not move it back), signalled, and forgotten with the
// log when the master holds another.
func TestFollowerKeepsTheCommitIDItHears(t *testing.T) {
	st := store.NewMemory("")
	fm, c := startClientWith(t, st, Options{})
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	changed := c.Commit().Changed()
	app := frametest.Entries(1, 2, 3)
	app.CommitID = 2
	conn.Send(app)
	conn.ExpectAck(3)
	<-changed
	if got := c.Commit().ID(); got != 2 {
		t.Fatalf("after an append with commitId 2: %d", got)
	}
	conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 1, LastID: 3, CommitID: 3})
	conn.Send(frametest.Entries(4)) // read after the heartbeat: its ack says the heartbeat was taken
	conn.ExpectAck(4)
	if got := c.Commit().ID(); got != 3 {
		t.Fatalf("after a heartbeat with commitId 3: %d", got)
	}
	conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 2, LastID: 4, CommitID: 1})
	conn.Send(frametest.Entries(5))
	conn.ExpectAck(5)
	if got := c.Commit().ID(); got != 3 {
		t.Fatalf("a lower commit id, then none, moved it to %d", got)
	}
	conn.Conn.CloseNow() // the master goes; the next one holds another log
	conn2, _ := fm.Accept()
	conn2.Send(welcome("OTHER", 1))
	conn2.Send(frametest.Entries(1))
	conn2.ExpectAck(1)
	if got := c.Commit().ID(); got != 0 {
		t.Fatalf("after a resync to another log the commit id is %d, want 0", got)
	}
}
