package replication

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

func TestTrackerCommitted(t *testing.T) {
	for _, c := range []struct {
		name     string
		held     map[string]uint64
		majority int
		last     uint64
		want     uint64
	}{
		{"alone, cluster of one", nil, 1, 7, 7},
		{"no secondary yet", nil, 2, 7, 0},
		{"one of two needed", map[string]uint64{"s1": 5}, 2, 7, 5},
		{"the second highest of three", map[string]uint64{"s1": 5, "s2": 6, "s3": 2}, 3, 7, 5},
		{"too few known", map[string]uint64{"s1": 5}, 3, 7, 0},
		{"never past the master's last id", map[string]uint64{"s1": 9}, 2, 7, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker()
			for n, id := range c.held {
				tr.Hold(n, id)
			}
			if got := tr.Committed(c.majority, c.last); got != c.want {
				t.Fatalf("Committed(%d, %d) = %d, want %d", c.majority, c.last, got, c.want)
			}
		})
	}
}

// TestSingleMasterSendsItsCommitID: a single master with CLUSTER_SIZE
// raises its commit id as a majority acks, and sends it in the appends
// and heartbeats of version-2 peers only: a version-1 peer's frames stay
// those of the release before.
func TestSingleMasterSendsItsCommitID(t *testing.T) {
	c := new(store.Commit)
	f := newFixture(t, Options{Commit: c, ClusterSize: 3, HeartbeatInterval: 20 * time.Millisecond})
	f.append("a", "b", "c")
	s1 := f.dial(frame.Hello("s1", frame.RoleSecondary, "L", 0))
	old := f.dial(frame.Frame{Type: frame.TypeHello, Version: 1, Name: "old", Role: frame.RoleObserver, LogID: "L"})
	s1.Expect(frame.TypeWelcome)
	s1.ExpectIDs(1, 3)
	if c.ID() != 0 {
		t.Fatalf("commit id %d before any ack", c.ID())
	}
	s1.SendRaw(`{"type":"ack","id":3}`)
	poll.Check(t, 5*time.Second, func() error {
		if c.ID() != 3 {
			return fmt.Errorf("commit id %d, want 3 once s1 (a majority of 3 with the master) holds 3", c.ID())
		}
		return nil
	})
	f.append("d")
	raw := readRaw(t, s1, frame.TypeAppend, frame.TypeHeartbeat)
	for typ, b := range raw {
		if !strings.Contains(b, `"commitId":3`) {
			t.Errorf("%s to a version-2 peer: %s, want commitId 3", typ, b)
		}
	}
	old.Expect(frame.TypeWelcome)
	for typ, b := range readRaw(t, old, frame.TypeAppend, frame.TypeHeartbeat) {
		if strings.Contains(b, "commitId") {
			t.Errorf("%s to a version-1 peer: %s", typ, b)
		}
	}
}
