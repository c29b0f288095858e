package election

import (
	"errors"
	"testing"
	"time"

	"github.com/replog/replog/shared/epoch"
)

// TestLeaderAcksNothingBeforeEpochStartOnMajority: a leader of epoch 3
// that started at 11 holds 1..10 from older epochs and appended 11.
// Ids 5 (an Idempotency-Key repeat) and 11 (a new append) are held by
// enough nodes for w=1 and w=2, but nothing is answered until a majority
// of the five acked 10 in epoch 3.
func TestLeaderAcksNothingBeforeEpochStartOnMajority(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 3, FirstID: 11}, 5, time.Minute, t0)
	l.Ack("a", 11, t0)
	l.Ack("b", 9, t0) // behind the start
	for _, w := range []int{1, 2} {
		for _, id := range []uint64{5, 11} {
			if l.Acknowledged(id, w) {
				t.Fatalf("id %d acknowledged at w=%d before the epoch start is on a majority", id, w)
			}
		}
	}
	l.Ack("c", 11, t0)
	if l.Begun() || l.Acknowledged(11, 2) {
		t.Fatal("begun with 2 of 5 holding the start")
	}
	l.Ack("b", 10, t0)
	if !l.Begun() {
		t.Fatal("not begun with 3 of 5 holding the start")
	}
	if !l.Acknowledged(5, 3) || !l.Acknowledged(11, 2) || !l.Acknowledged(11, 1) {
		t.Fatal("held writes not acknowledged once begun")
	}
	if l.Acknowledged(11, 3) {
		t.Fatal("id 11 acknowledged at w=3 with two holders")
	}
	if got := l.Committed(); got != 10 {
		t.Fatalf("Committed = %d, want 10", got)
	}
	// A follower that restarts with less does not undo the start.
	l.Ack("b", 2, t0)
	l.Ack("c", 2, t0)
	if !l.Begun() {
		t.Fatal("a begun epoch became not begun")
	}
}

func TestLeaderDemotesOnHigherEpoch(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 3, FirstID: 1}, 3, time.Minute, t0)
	l.SawEpoch(3)
	l.SawEpoch(2)
	if err := l.Check(t0); err != nil {
		t.Fatalf("demoted by its own or a lower epoch: %v", err)
	}
	l.SawEpoch(4)
	if err := l.Check(t0); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Check after seeing 4 = %v, want ErrDeposed", err)
	}
}

func TestLeaderDemotesWhenMajoritySilentForTimeout(t *testing.T) {
	const timeout = 6 * time.Second
	l := NewLeadership("a", epoch.Start{Epoch: 2, FirstID: 1}, 5, timeout, t0)
	steps := []struct {
		at      time.Duration
		heard   []string
		demoted bool
	}{
		{0, nil, false},
		{5 * time.Second, nil, false}, // a new leader gets one timeout to be heard
		{5 * time.Second, []string{"b", "c"}, false},
		{10 * time.Second, nil, false},           // b, c heard 5s ago: 3 of 5
		{11 * time.Second, nil, true},            // 6s since: only itself
		{11 * time.Second, []string{"b"}, true},  // 2 of 5
		{11 * time.Second, []string{"d"}, false}, // b, d and itself
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		for _, n := range s.heard {
			l.Heard(n, now)
		}
		err := l.Check(now)
		if (err != nil) != s.demoted {
			t.Fatalf("step %d at %v: Check = %v, want demoted=%v", i, s.at, err, s.demoted)
		}
		if err != nil && !errors.Is(err, ErrMajoritySilent) {
			t.Fatalf("step %d: %v does not wrap ErrMajoritySilent", i, err)
		}
	}
}

// TestLeaderThatGrantsAHigherPrepareStopsLeading: the leader's own
// voter granting a prepare deposes it before the promise leaves.
func TestLeaderThatGrantsAHigherPrepareStopsLeading(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 2, FirstID: 1}, 3, time.Minute, t0)
	l.Promised(Promise{Epoch: 2, To: "a"})
	if err := l.Check(t0); err != nil {
		t.Fatalf("deposed by its own promise: %v", err)
	}
	l.Promised(Promise{Epoch: 3, To: "b"})
	if err := l.Check(t0); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Check after granting epoch 3 = %v, want ErrDeposed", err)
	}
}
