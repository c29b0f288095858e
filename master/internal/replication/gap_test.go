package replication

import (
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// TestSessionNeverSendsAGap: retention drops entries from the log before
// it tells the hub (Retain), so a session can read the log in between. It
// must not send what follows the drop as if it followed what the peer
// holds: the session ends (the peer reconnects and restarts at the first
// id), and the peer is sent no append.
func TestSessionNeverSendsAGap(t *testing.T) {
	// Held by the linger, the appends leave only when hurried: after the drop.
	f := newFixture(t, Options{HeartbeatInterval: time.Hour, Linger: time.Hour})
	p := f.dial(frame.Hello("s1", frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	for range 5 {
		if _, err := f.store.Append(store.Record{Message: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.DropBefore(4); err != nil { // the hub is not told yet
		t.Fatal(err)
	}
	f.hub.hurry(5) // as Await does for a write that waits for id 5
	if got, err := p.Read(); err == nil {
		t.Fatalf("the session sent %+v to a peer that needs id 1 from a log that starts at 4", got)
	}
}
