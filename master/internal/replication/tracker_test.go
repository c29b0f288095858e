package replication

import (
	"slices"
	"testing"
)

func ids(ws []*Wait) []uint64 {
	var out []uint64
	for _, w := range ws {
		out = append(out, w.ID)
	}
	slices.Sort(out)
	return out
}

func TestTracker(t *testing.T) {
	type hold struct {
		node string
		id   uint64
		want []uint64 // ids of the waits this hold satisfies
	}
	cases := []struct {
		name  string
		waits [][2]int // {id, need}
		holds []hold
		left  int
	}{
		{
			name:  "one secondary satisfies need 1 up to its position",
			waits: [][2]int{{1, 1}, {2, 1}, {3, 1}},
			holds: []hold{{"s1", 2, []uint64{1, 2}}, {"s1", 3, []uint64{3}}},
		},
		{
			name:  "need 2 waits for the second secondary",
			waits: [][2]int{{1, 2}, {2, 1}},
			holds: []hold{{"s1", 5, []uint64{2}}, {"s2", 1, []uint64{1}}},
		},
		{
			name:  "need 2 uses the second largest position",
			waits: [][2]int{{4, 2}, {6, 2}},
			holds: []hold{{"s1", 10, nil}, {"s2", 4, []uint64{4}}, {"s3", 7, []uint64{6}}},
		},
		{
			name:  "going backwards satisfies nothing and later progress still counts",
			waits: [][2]int{{3, 1}},
			holds: []hold{{"s1", 2, nil}, {"s1", 0, nil}, {"s1", 3, []uint64{3}}},
		},
		{
			name:  "need beyond the known secondaries keeps waiting",
			waits: [][2]int{{1, 3}},
			holds: []hold{{"s1", 9, nil}, {"s2", 9, nil}},
			left:  1,
		},
		{
			name:  "repeated acks of one node never count twice",
			waits: [][2]int{{1, 2}},
			holds: []hold{{"s1", 1, nil}, {"s1", 1, nil}, {"s1", 2, nil}},
			left:  1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker()
			for _, w := range c.waits {
				if tr.Add(NewWait(uint64(w[0]), w[1])) {
					t.Fatalf("wait %v satisfied before any hold", w)
				}
			}
			for _, h := range c.holds {
				if got := ids(tr.Hold(h.node, h.id)); !slices.Equal(got, h.want) {
					t.Fatalf("Hold(%s, %d) satisfied %v, want %v", h.node, h.id, got, h.want)
				}
			}
			if tr.Waiting() != c.left {
				t.Fatalf("%d waits left, want %d", tr.Waiting(), c.left)
			}
		})
	}
}

func TestTrackerAddAlreadySatisfied(t *testing.T) {
	tr := NewTracker()
	tr.Hold("s1", 5)
	tr.Hold("s2", 3)
	if !tr.Add(NewWait(3, 2)) || !tr.Add(NewWait(5, 1)) {
		t.Fatal("a wait held by enough secondaries was not satisfied at once")
	}
	if tr.Add(NewWait(4, 2)) {
		t.Fatal("id 4 is held by one secondary only")
	}
	if tr.Holders(3) != 2 || tr.Holders(4) != 1 || tr.Holders(6) != 0 {
		t.Fatalf("Holders wrong: %d %d %d", tr.Holders(3), tr.Holders(4), tr.Holders(6))
	}
}

func TestTrackerCancel(t *testing.T) {
	tr := NewTracker()
	a, b := NewWait(1, 1), NewWait(2, 1)
	tr.Add(a)
	tr.Add(b)
	tr.Cancel(a)
	tr.Cancel(a) // twice is harmless
	if got := ids(tr.Hold("s1", 2)); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("after cancelling 1, Hold satisfied %v", got)
	}
	tr.Cancel(b) // already satisfied: harmless
	if tr.Waiting() != 0 {
		t.Fatalf("%d waits left", tr.Waiting())
	}
}

func BenchmarkTracker(b *testing.B) {
	tr := NewTracker()
	b.ReportAllocs()
	var id uint64
	for b.Loop() {
		id++
		tr.Add(NewWait(id, 2))
		tr.Hold("s1", id)
		tr.Hold("s2", id)
	}
}

// TestTrackerCountsHoldersOfSatisfiedWaits: a wait let go by Hold carries
// how many secondaries held its id then, for the reply's acks.
func TestTrackerCountsHoldersOfSatisfiedWaits(t *testing.T) {
	tr := NewTracker()
	one, two := NewWait(3, 1), NewWait(3, 2)
	tr.Add(one)
	tr.Add(two)
	tr.Hold("s1", 2)
	tr.Hold("s3", 9) // holds 3: one is met
	if one.Holders != 1 || two.Holders != 0 {
		t.Fatalf("after one holder: %d and %d", one.Holders, two.Holders)
	}
	tr.Hold("s2", 4) // two is met, with two holders of 3
	if two.Holders != 2 {
		t.Fatalf("two met with %d holders, want 2", two.Holders)
	}
}
