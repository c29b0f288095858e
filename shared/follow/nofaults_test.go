package follow

import (
	"errors"
	"testing"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// TestClientWithoutFaults: a client given no Faults (a standby) says in
// its hello that none are injected, refuses a change with ErrNoFaults,
// and applies and acks as usual.
func TestClientWithoutFaults(t *testing.T) {
	st := store.NewMemory("")
	fm, c := startClientWith(t, st, Options{})
	conn, hello := fm.Accept()
	if f := hello.Faults; f == nil || *f.ReplicationDelay != "0" || *f.FailRate != 0 || *f.CutOff {
		t.Fatalf("hello's faults %+v, want none in force", f)
	}
	cut := true
	if _, err := c.ChangeFaults(frame.Faults{CutOff: &cut}); !errors.Is(err, ErrNoFaults) {
		t.Fatalf("a change of faults answered %v, want ErrNoFaults", err)
	}
	conn.Send(welcome("L", 1))
	conn.Send(frametest.Entries(1, 2))
	conn.ExpectAck(2)
}
