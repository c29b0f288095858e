package store

import "testing"

// TestCommitOnlyRisesAndSignals: the commit id goes up only, each move
// wakes the waiters taken before it, and Reset forgets it.
func TestCommitOnlyRisesAndSignals(t *testing.T) {
	var c Commit
	changed := c.Changed()
	if !c.Raise(5) || c.ID() != 5 {
		t.Fatalf("Raise(5): id %d", c.ID())
	}
	select {
	case <-changed:
	default:
		t.Fatal("Raise did not signal")
	}
	changed = c.Changed()
	if c.Raise(3) || c.Raise(5) || c.ID() != 5 {
		t.Fatalf("a lower or equal commit id moved it: %d", c.ID())
	}
	select {
	case <-changed:
		t.Fatal("a commit id that did not move signalled")
	default:
	}
	c.Reset()
	select {
	case <-changed:
	default:
		t.Fatal("Reset did not signal")
	}
	if c.ID() != 0 {
		t.Fatalf("after Reset: %d", c.ID())
	}
}
