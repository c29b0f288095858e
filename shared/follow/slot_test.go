package follow

import (
	"context"
	"testing"
	"time"
)

// holding is a holder of epoch e whose cancel is reported on cancelled.
func holding(e uint64) (h *holder, cancelled <-chan error) {
	ch := make(chan error, 1)
	return &holder{epoch: e, done: make(chan struct{}), cancel: func(cause error) {
		select {
		case ch <- cause:
		default:
		}
	}}, ch
}

// TestSlotIsTakenOnlyOnceItsHolderStopped: a leader's link that takes
// the following slot cancels the link that holds it and does not write
// (take does not return) until that link's session has released it.
func TestSlotIsTakenOnlyOnceItsHolderStopped(t *testing.T) {
	var s slot
	a, cancelled := holding(2)
	if err := s.take(context.Background(), a, "m1"); err != nil {
		t.Fatal(err)
	}
	b, _ := holding(3)
	took := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { took <- s.take(ctx, b, "m2") }()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the holder was not cancelled")
	}
	select { // the holder is cancelled, not yet stopped: the slot stays its
	case err := <-took:
		t.Fatalf("taken (%v) before the holder stopped", err)
	case <-time.After(100 * time.Millisecond):
	}
	s.release(a)
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	s.release(b)
}

func TestSlotIsNotTakenFromAHigherEpoch(t *testing.T) {
	var s slot
	a, cancelled := holding(3)
	if err := s.take(context.Background(), a, "m1"); err != nil {
		t.Fatal(err)
	}
	b, _ := holding(2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a wrong wait for the holder ends
	defer cancel()
	if err := s.take(ctx, b, "m2"); err == nil || ctx.Err() != nil {
		t.Fatal("a leader of epoch 2 took the slot from epoch 3")
	}
	select {
	case cause := <-cancelled:
		t.Fatalf("the holder of epoch 3 was cancelled: %v", cause)
	default:
	}
	s.release(a)
}
