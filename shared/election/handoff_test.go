package election

import (
	"testing"
	"time"
)

func TestSwitchoverStandbyStandsOnlyOnceItHoldsTheLeadersLastID(t *testing.T) {
	h := Handoff{From: "a", To: "b", Epoch: 4, LastID: 20, Deadline: t0.Add(9 * time.Second)}
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
		if got := h.Ready(c.lastEpoch, c.last, t0); got != c.want {
			t.Errorf("Ready(%d, %d) = %v, want %v", c.lastEpoch, c.last, got, c.want)
		}
	}
	if h.Lapsed(t0.Add(8*time.Second)) || !h.Lapsed(t0.Add(9*time.Second)) {
		t.Error("the handoff lapses at its deadline, not before")
	}
}

// TestSwitchoverStandbysHandoffLapsesWithTheLeaders: the standby's side
// of a handoff lapses at the leader's deadline; after it, holding the
// last id is not enough (the leader may have taken writes again).
func TestSwitchoverStandbysHandoffLapsesWithTheLeaders(t *testing.T) {
	h := Handoff{From: "a", To: "b", Epoch: 4, LastID: 20, Deadline: t0.Add(9 * time.Second)}
	if !h.Ready(4, 20, t0.Add(8*time.Second)) {
		t.Fatal("not ready before the deadline")
	}
	if h.Ready(4, 25, t0.Add(9*time.Second)) {
		t.Fatal("ready at the deadline: a lapsed handoff stands")
	}
}

func TestSwitchoverANewerHandoffReplacesAnOlderOne(t *testing.T) {
	old := Handoff{From: "a", To: "b", Epoch: 4, LastID: 20}
	cases := []struct {
		name  string
		h     Handoff
		wants bool
	}{
		{"the leader handed off again after taking writes", Handoff{Epoch: 4, LastID: 27}, true},
		{"the same handoff again", Handoff{Epoch: 4, LastID: 20}, true},
		{"a delayed copy of an older one", Handoff{Epoch: 4, LastID: 18}, false},
		{"a leader of a later epoch", Handoff{Epoch: 5, LastID: 3}, true},
		{"a leader of an earlier epoch", Handoff{Epoch: 3, LastID: 30}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.h.Replaces(old); got != c.wants {
				t.Fatalf("Replaces = %v, want %v", got, c.wants)
			}
		})
	}
}
