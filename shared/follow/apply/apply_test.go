package apply

import (
	"fmt"
	"testing"

	"github.com/replog/replog/shared/frame"
)

func entries(ids ...uint64) []frame.Entry {
	out := make([]frame.Entry, len(ids))
	for i, id := range ids {
		out[i] = frame.Entry{ID: id, Message: fmt.Sprintf("m%d", id)}
	}
	return out
}

func applied(r Result) []uint64 {
	var out []uint64
	for _, e := range r.Apply {
		out = append(out, e.ID)
	}
	return out
}

func TestApplier(t *testing.T) {
	type step struct {
		in       []uint64
		reject   bool
		wantIDs  []uint64
		wantNack uint64
		wantLast uint64
	}
	cases := []struct {
		name  string
		last  uint64
		steps []step
	}{
		{"in order", 0, []step{
			{in: []uint64{1, 2}, wantIDs: []uint64{1, 2}, wantLast: 2},
			{in: []uint64{3}, wantIDs: []uint64{3}, wantLast: 3},
		}},
		{"duplicates are ignored", 2, []step{
			{in: []uint64{1, 2}, wantLast: 2},
			{in: []uint64{2, 3}, wantIDs: []uint64{3}, wantLast: 3},
		}},
		{"a gap holds back and asks once", 0, []step{
			{in: []uint64{1}, wantIDs: []uint64{1}, wantLast: 1},
			{in: []uint64{3, 4}, wantNack: 2, wantLast: 1},
			{in: []uint64{5}, wantLast: 1}, // same gap: no second nack
			{in: []uint64{2, 3}, wantIDs: []uint64{2, 3, 4, 5}, wantLast: 5},
		}},
		{"a second gap after the first filled asks again", 0, []step{
			{in: []uint64{2}, wantNack: 1},
			{in: []uint64{1}, wantIDs: []uint64{1, 2}, wantLast: 2},
			{in: []uint64{4}, wantNack: 3, wantLast: 2},
		}},
		{"a rejection always asks again", 5, []step{
			{in: []uint64{6, 7}, reject: true, wantNack: 6, wantLast: 5},
			{in: []uint64{8}, wantLast: 5}, // behind the rejected frame: held, not nacked again
			{in: []uint64{6, 7}, reject: true, wantNack: 6, wantLast: 5},
			{in: []uint64{6, 7}, wantIDs: []uint64{6, 7, 8}, wantLast: 8},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(c.last, 100)
			for i, s := range c.steps {
				var r Result
				if s.reject {
					r.Nack = a.Reject()
				} else {
					r = a.Receive(entries(s.in...))
				}
				if fmt.Sprint(applied(r)) != fmt.Sprint(s.wantIDs) || r.Nack != s.wantNack || a.Last() != s.wantLast {
					t.Fatalf("step %d (%v): applied %v nack %d last %d; want %v nack %d last %d",
						i, s.in, applied(r), r.Nack, a.Last(), s.wantIDs, s.wantNack, s.wantLast)
				}
			}
		})
	}
}

func TestApplierBoundsPending(t *testing.T) {
	a := New(0, 2)
	a.Receive(entries(5, 6, 7, 8))
	if a.Pending() != 2 {
		t.Fatalf("%d pending, want the bound 2", a.Pending())
	}
	r := a.Receive(entries(1, 2, 3, 4))
	if a.Last() != 6 || len(r.Apply) != 6 {
		t.Fatalf("after filling the gap last = %d (applied %d); want 6", a.Last(), len(r.Apply))
	}
	if r.Nack != 0 {
		t.Fatalf("nothing is held back, yet nack %d", r.Nack)
	}
}

func TestApplierMessagesStayWithTheirIDs(t *testing.T) {
	a := New(0, 100)
	a.Receive(entries(3))
	r := a.Receive(entries(1, 2))
	if len(r.Apply) != 3 {
		t.Fatalf("applied %v, want ids 1..3", r.Apply)
	}
	for _, e := range r.Apply {
		if e.Message != fmt.Sprintf("m%d", e.ID) {
			t.Fatalf("entry %d carries %q", e.ID, e.Message)
		}
	}
}

// Pending counts the entries held back behind a gap.
func (a *Applier) Pending() int { return len(a.pending) }

// TestHeldEntriesKeepWhatTheyCarry: an entry held back behind a gap is
// applied with its epoch, key and at, as one applied at once is: the log
// stores them (a promoted standby answers a retried key from them).
func TestHeldEntriesKeepWhatTheyCarry(t *testing.T) {
	a := New(0, DefaultMaxPending)
	two := frame.Entry{ID: 2, Epoch: 3, Message: "m2", Key: "order-17", At: 1764756000123}
	if r := a.Receive([]frame.Entry{two}); len(r.Apply) != 0 || r.Nack != 1 {
		t.Fatalf("id 2 before 1: %+v", r)
	}
	one := frame.Entry{ID: 1, Epoch: 3, Message: "m1"}
	r := a.Receive([]frame.Entry{one})
	if len(r.Apply) != 2 || r.Apply[0] != one || r.Apply[1] != two {
		t.Fatalf("applied %+v, want %+v then %+v", r.Apply, one, two)
	}
}
