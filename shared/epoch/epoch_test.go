package epoch

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func hist(pairs ...uint64) History {
	var h History
	for i := 0; i+1 < len(pairs); i += 2 {
		h = append(h, Start{Epoch: pairs[i], FirstID: pairs[i+1]})
	}
	return h
}

func TestHistoryAppendRefusesGoingBack(t *testing.T) {
	cases := []struct {
		name string
		h    History
		s    Start
		ok   bool
	}{
		{"first start", nil, Start{1, 1}, true},
		{"a later epoch at a later id", hist(1, 1), Start{2, 5}, true},
		{"an empty epoch: the next starts at the same id", hist(1, 1, 2, 5), Start{3, 5}, true},
		{"same epoch twice", hist(1, 1, 2, 5), Start{2, 7}, false},
		{"lower epoch", hist(1, 1, 3, 5), Start{2, 7}, false},
		{"first id going back", hist(1, 1, 2, 5), Start{3, 4}, false},
		{"id 0", nil, Start{1, 0}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.h.Append(c.s)
			if c.ok != (err == nil) {
				t.Fatalf("Append(%v) to %v: err %v, want ok=%v", c.s, c.h, err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrOrder) {
					t.Fatalf("err %v does not wrap ErrOrder", err)
				}
				if !slices.Equal(got, c.h) {
					t.Fatalf("a refused Append changed the history: %v", got)
				}
				return
			}
			if got[len(got)-1] != c.s || len(got) != len(c.h)+1 {
				t.Fatalf("Append(%v) to %v = %v", c.s, c.h, got)
			}
		})
	}
}

func TestHistoryAppendLeavesTheOriginalAlone(t *testing.T) {
	h := make(History, 1, 4)
	h[0] = Start{1, 1}
	a, _ := h.Append(Start{2, 3})
	b, _ := h.Append(Start{3, 9})
	if a[1] != (Start{2, 3}) || b[1] != (Start{3, 9}) {
		t.Fatalf("two appends to one history share storage: %v %v", a, b)
	}
}

func TestLastEpochCountsAnEmptyEpochStart(t *testing.T) {
	// Epoch 3 started at 8 and holds nothing: a node that persisted it is
	// more up to date than one holding ids 8..20 of epoch 2.
	withStart := PositionOf(hist(1, 1, 2, 5, 3, 8), 7)
	longer := PositionOf(hist(1, 1, 2, 5), 20)
	if withStart.Epoch != 3 {
		t.Fatalf("last epoch %d, want 3", withStart.Epoch)
	}
	if withStart.Compare(longer) <= 0 {
		t.Fatalf("%v is not more up to date than %v", withStart, longer)
	}
}

func TestPositionComparesEpochFirst(t *testing.T) {
	cases := []struct {
		p, q Position
		want int
	}{
		{Position{2, 1}, Position{1, 100}, 1},
		{Position{1, 100}, Position{2, 1}, -1},
		{Position{2, 5}, Position{2, 7}, -1},
		{Position{2, 7}, Position{2, 7}, 0},
		{Position{0, 0}, Position{0, 0}, 0},
	}
	for _, c := range cases {
		if got := c.p.Compare(c.q); got != c.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", c.p, c.q, got, c.want)
		}
	}
}

func TestEpochOfAnID(t *testing.T) {
	h := hist(1, 1, 2, 5, 3, 5, 4, 9)
	want := map[uint64]uint64{0: 0, 1: 1, 4: 1, 5: 3, 8: 3, 9: 4, 1000: 4}
	for id, e := range want {
		if got := h.Of(id); got != e {
			t.Errorf("Of(%d) = %d, want %d", id, got, e)
		}
	}
	if got := History(nil).Of(3); got != 0 {
		t.Errorf("empty history: Of(3) = %d, want 0", got)
	}
}

// TestEndAnswersWhereAnEpochEnds is KIP-279's OffsetsForLeaderEpoch.
func TestEndAnswersWhereAnEpochEnds(t *testing.T) {
	h := hist(1, 1, 2, 5, 3, 5, 5, 9) // epoch 2 is empty; no epoch 4
	cases := []struct {
		name      string
		e, last   uint64
		wantEpoch uint64
		wantEnd   uint64
	}{
		{"an epoch followed by another ends before it", 1, 20, 1, 4},
		{"an empty epoch ends before it starts", 2, 20, 2, 4},
		{"an epoch the history never had answers the largest below it", 4, 20, 3, 8},
		{"the last epoch ends at the log's last id", 5, 20, 5, 20},
		{"an epoch above the last is answered with the last", 9, 20, 5, 20},
		{"a log shorter than the epoch's end ends at its last id", 3, 6, 3, 6},
		{"no epoch at or below", 0, 20, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, end := h.End(c.e, c.last)
			if e != c.wantEpoch || end != c.wantEnd {
				t.Fatalf("End(%d, %d) = (%d, %d), want (%d, %d)", c.e, c.last, e, end, c.wantEpoch, c.wantEnd)
			}
		})
	}
}

func TestFollowerAdoptsAnEpochStartOnlyWhenItsLogReachesIt(t *testing.T) {
	leader := hist(1, 1, 2, 5, 3, 9)
	cases := []struct {
		last uint64
		want History
	}{
		{0, hist(1, 1)},
		{3, hist(1, 1)},
		{4, hist(1, 1, 2, 5)}, // holds 1..4: epoch 2's start is backed
		{7, hist(1, 1, 2, 5)},
		{8, hist(1, 1, 2, 5, 3, 9)},
		{50, hist(1, 1, 2, 5, 3, 9)},
	}
	for _, c := range cases {
		if got := Adopt(leader, c.last); !slices.Equal(got, c.want) {
			t.Errorf("Adopt(%v, %d) = %v, want %v", leader, c.last, got, c.want)
		}
	}
}

func TestDivergence(t *testing.T) {
	cases := []struct {
		name              string
		leader            History
		leaderLast        uint64
		follower          History
		followerLast      uint64
		want              uint64
		rolledBackAtLeast uint64 // follower ids want+1..followerLast roll back
	}{
		{"a follower behind on the same history keeps all", hist(1, 1, 2, 5), 9, hist(1, 1, 2, 5), 6, 6, 0},
		{"a follower behind in an older epoch keeps all", hist(1, 1, 2, 5), 9, hist(1, 1), 4, 4, 0},
		{"a follower beyond the leader in the leader's epoch keeps what the leader has", hist(1, 1), 5, hist(1, 1), 8, 5, 3},
		{"a deposed leader's tail of its own epoch rolls back", hist(1, 1, 3, 6), 9, hist(1, 1, 2, 6), 8, 5, 3},
		{"the new leader had more of the old epoch", hist(1, 1, 2, 7), 9, hist(1, 1), 8, 6, 2},
		{"an epoch the leader never had, started past the leader's own start", hist(1, 1, 2, 4, 4, 9), 12, hist(1, 1, 2, 4, 3, 7), 10, 6, 4},
		{"diverged at id 1", hist(2, 1), 3, hist(1, 1), 3, 0, 3},
		{"empty follower", hist(1, 1), 3, nil, 0, 0, 0},
		{"an open leader: the follower's later ids of the leader's epoch stay", hist(1, 1, 2, 5), Open, hist(1, 1, 2, 5), 12, 12, 0},
		{"an open leader: an older epoch past the leader's start rolls back", hist(1, 1, 2, 5), Open, hist(1, 1), 12, 4, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Diverge(c.leader, c.leaderLast, c.follower, c.followerLast)
			if got != c.want {
				t.Fatalf("Diverge = %d, want %d", got, c.want)
			}
			if c.followerLast-got != c.rolledBackAtLeast {
				t.Fatalf("rolls back %d ids, want %d", c.followerLast-got, c.rolledBackAtLeast)
			}
		})
	}
}

// world is a set of logs made the way leaders make them: each epoch's
// leader takes a prefix of some log it held and appends to it. An entry
// is named by (epoch, id), which is unique: one leader per epoch, and a
// leader only appends.
type world struct {
	logs  [][]uint64 // logs[i][id-1] is the epoch of id
	hists []History
}

func genWorld(t *rapid.T) world {
	w := world{logs: [][]uint64{nil}, hists: []History{nil}}
	epochs := rapid.IntRange(1, 7).Draw(t, "epochs")
	for e := uint64(1); e <= uint64(epochs); e++ {
		p := rapid.IntRange(0, len(w.logs)-1).Draw(t, "parent")
		parent := w.logs[p]
		keep := rapid.IntRange(0, len(parent)).Draw(t, "prefix")
		log := slices.Clone(parent[:keep])
		h, err := Adopt(w.hists[p], uint64(keep)).Append(Start{Epoch: e, FirstID: uint64(keep) + 1})
		if err != nil {
			t.Fatalf("generator made a bad history: %v", err)
		}
		for range rapid.IntRange(0, 4).Draw(t, "appends") {
			log = append(log, e)
		}
		w.logs = append(w.logs, log)
		w.hists = append(w.hists, h)
	}
	return w
}

// commonPrefix is the brute force: compare the two logs entry by entry.
func commonPrefix(a, b []uint64) uint64 {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return uint64(n)
}

func TestPropertyDivergeIsTheCommonPrefixOfEveryPair(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		// Every leader against every prefix a follower may hold of every
		// log, with the history a follower adopts for it: a world is
		// small, and the pairs that part at a start only one of them has
		// are rare among random picks.
		for l := range w.logs {
			for f := range w.logs {
				for held := range len(w.logs[f]) + 1 {
					checkDiverge(t, w, l, f, held)
				}
			}
		}
	})
}

func checkDiverge(t *rapid.T, w world, l, f, held int) {
	fLog := w.logs[f][:held]
	fHist := Adopt(w.hists[f], uint64(held))
	got := Diverge(w.hists[l], uint64(len(w.logs[l])), fHist, uint64(held))
	if want := commonPrefix(w.logs[l], fLog); got != want {
		t.Fatalf("Diverge(%v, %d, %v, %d) = %d, brute force %d", w.hists[l], len(w.logs[l]), fHist, held, got, want)
	}
	// The history says each held id's epoch.
	for id, e := range fLog {
		if fHist.Of(uint64(id+1)) != e {
			t.Fatalf("history %v gives id %d epoch %d, the log holds %d", fHist, id+1, fHist.Of(uint64(id+1)), e)
		}
	}
}

func TestPropertyEndIsWhereTheLastEntryOfTheEpochIs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		i := rapid.IntRange(0, len(w.logs)-1).Draw(t, "log")
		e := rapid.Uint64Range(0, 9).Draw(t, "epoch")
		log, h := w.logs[i], w.hists[i]
		gotEpoch, gotEnd := h.End(e, uint64(len(log)))
		// Brute force: the largest epoch not above e that the history
		// has, and the last id whose epoch is at most it.
		var wantEpoch uint64
		for _, s := range h {
			if s.Epoch <= e {
				wantEpoch = s.Epoch
			}
		}
		var wantEnd uint64
		if wantEpoch > 0 {
			for id, x := range log {
				if x <= wantEpoch {
					wantEnd = uint64(id + 1)
				}
			}
			// An empty epoch ends where the one before it ended.
		}
		if gotEpoch != wantEpoch || gotEnd != wantEnd {
			t.Fatalf("End(%d) of %v holding %v = (%d, %d), want (%d, %d)", e, h, log, gotEpoch, gotEnd, wantEpoch, wantEnd)
		}
	})
}
