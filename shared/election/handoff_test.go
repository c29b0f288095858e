package election

import (
	"testing"
	"time"
)

func TestSwitchoverStandbyStandsOnlyOnceItHoldsTheLeadersLastID(t *testing.T) {
	h := Handoff{To: "b", Epoch: 4, LastID: 20, Deadline: t0.Add(9 * time.Second)}
	cases := []struct {
		lastEpoch, last uint64
		want            bool
	}{
		{4, 19, false},
		{4, 20, true},
		{4, 21, true},
		{5, 20, false}, // another leader since
		{3, 20, false}, // it has not adopted the leader's start: its ids may be another history's
	}
	for _, c := range cases {
		if got := h.Ready(c.lastEpoch, c.last); got != c.want {
			t.Errorf("Ready(%d, %d) = %v, want %v", c.lastEpoch, c.last, got, c.want)
		}
	}
	if h.Lapsed(t0.Add(8*time.Second)) || !h.Lapsed(t0.Add(9*time.Second)) {
		t.Error("the handoff lapses at its deadline, not before")
	}
}
