package election

import (
	"errors"
	"testing"
	"time"

	"github.com/replog/replog/shared/epoch"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func hist(pairs ...uint64) epoch.History {
	var h epoch.History
	for i := 0; i+1 < len(pairs); i += 2 {
		h = append(h, epoch.Start{Epoch: pairs[i], FirstID: pairs[i+1]})
	}
	return h
}

func TestCandidateNeedsAMajorityOfClusterSize(t *testing.T) {
	own := OfferOf(hist(1, 1), 3)
	// Three master-capable nodes and two secondaries: five vote, three win.
	tl := NewTally(2, "a", own, 5, t0.Add(time.Second))
	if tl.Won() {
		t.Fatal("won with its own promise alone")
	}
	tl.Granted("s1", 2, own)
	tl.Granted("s1", 2, own) // a repeated answer counts once
	tl.Granted("b", 1, own)  // another epoch's promise does not count
	if tl.Won() {
		t.Fatal("won with 2 of 5")
	}
	tl.Granted("s2", 2, own)
	if !tl.Won() || !tl.MayLead(own.Position, t0) {
		t.Fatal("did not win with 3 of 5")
	}
}

// TestCandidateCopiesFromMostUpToDate is the 3+2 case: the write at id 4
// was acknowledged by the dead leader and both secondaries; the surviving
// standby must copy it from a secondary before it leads.
func TestCandidateCopiesFromMostUpToDate(t *testing.T) {
	own := OfferOf(hist(1, 1), 3)
	tl := NewTally(2, "b", own, 5, t0.Add(time.Second))
	tl.Granted("s1", 2, OfferOf(hist(1, 1), 4))
	tl.Granted("s2", 2, OfferOf(hist(1, 1), 4))
	if !tl.Won() {
		t.Fatal("3 of 5 did not win")
	}
	if tl.MayLead(own.Position, t0) {
		t.Fatal("may lead without id 4, which a promiser holds")
	}
	c, ok := tl.Plan(own)
	if !ok || c.Source != "s1" || c.Keep != 3 || c.Through != 4 {
		t.Fatalf("Plan = %+v, %v; want copy 4..4 from s1 keeping 3", c, ok)
	}
	if !tl.MayLead(epoch.Position{Epoch: 1, ID: 4}, t0) {
		t.Fatal("may not lead once it holds what the most up-to-date promiser holds")
	}
	if s := tl.Start(4); s != (epoch.Start{Epoch: 2, FirstID: 5}) {
		t.Fatalf("Start = %v, want (2, 5)", s)
	}
}

func TestCandidateRollsBackItsDivergedTailBeforeCopying(t *testing.T) {
	// The candidate led epoch 2 (ids 4..6 never left it); the promiser
	// followed epoch 3, which started at 4.
	own := OfferOf(hist(1, 1, 2, 4), 6)
	tl := NewTally(4, "a", own, 3, t0.Add(time.Second))
	tl.Granted("c", 4, OfferOf(hist(1, 1, 3, 4), 5))
	c, ok := tl.Plan(own)
	if !ok || c.Source != "c" || c.Keep != 3 || c.Through != 5 {
		t.Fatalf("Plan = %+v, %v; want keep 3, copy 4..5 from c", c, ok)
	}
}

func TestCandidateCountsAnEmptyEpochStartAsMoreUpToDate(t *testing.T) {
	// b persisted the start of epoch 3 at 5 and holds 1..4; a holds more
	// ids, of epoch 2. b's log is the more up to date (Figure 8).
	own := OfferOf(hist(1, 1, 2, 3), 9)
	tl := NewTally(4, "a", own, 3, t0.Add(time.Second))
	tl.Granted("b", 4, OfferOf(hist(1, 1, 2, 3, 3, 5), 4))
	if tl.MayLead(own.Position, t0) {
		t.Fatal("a longer log of an older epoch may lead")
	}
	c, _ := tl.Plan(own)
	if c.Source != "b" || c.Keep != 4 || c.Through != 4 {
		t.Fatalf("Plan = %+v; want keep 4 (roll back 5..9), nothing more to copy", c)
	}
}

func TestCandidacyIsOverOnTimeoutOrAHigherPromise(t *testing.T) {
	own := OfferOf(nil, 0)
	tl := NewTally(3, "a", own, 3, t0.Add(time.Second))
	tl.Granted("b", 3, own)
	if !tl.MayLead(own.Position, t0) {
		t.Fatal("could not lead with a majority in time")
	}
	if tl.MayLead(own.Position, t0.Add(time.Second)) || !tl.Over(t0.Add(time.Second)) {
		t.Fatal("a candidacy past its deadline may still lead")
	}
	tl = NewTally(3, "a", own, 3, t0.Add(time.Second))
	tl.Granted("b", 3, own)
	tl.Refused(3)
	if !tl.Over(t0) || tl.MayLead(own.Position, t0) {
		t.Fatal("a refusal naming the same epoch did not end the candidacy")
	}
}

// TestSwitchoverCandidacyNeedsTheOldLeadersPromise: a standby that
// stands at a handoff wins only with the promise of the leader that
// handed off, whose offer is then its final log: the candidate copies it.
func TestSwitchoverCandidacyNeedsTheOldLeadersPromise(t *testing.T) {
	own := OfferOf(hist(1, 1), 25)
	tl := NewTally(2, "b", own, 3, t0.Add(time.Second))
	tl.Need("a")
	tl.Granted("c", 2, own)
	if tl.Won() {
		t.Fatal("won without the old leader's promise")
	}
	tl.Granted("a", 2, OfferOf(hist(1, 1), 27)) // it took writes after its handoff lapsed
	if !tl.Won() {
		t.Fatal("not won with a majority that includes the old leader")
	}
	if c, ok := tl.Plan(own); !ok || c.Source != "a" || c.Through != 27 {
		t.Fatalf("Plan = %+v, %v; want to copy 26..27 from a", c, ok)
	}
}

// TestCandidateThatGrantsAHigherPrepareStopsStanding: a candidate whose
// voter grants another node's prepare is over at once, whatever the
// promises it collected.
func TestCandidateThatGrantsAHigherPrepareStopsStanding(t *testing.T) {
	own := OfferOf(hist(1, 1), 3)
	tl := NewTally(2, "a", own, 3, t0.Add(time.Second))
	tl.Promised(Promise{Epoch: 2, To: "a"}) // its own promise: nothing changes
	if tl.Over(t0) {
		t.Fatal("over on its own promise")
	}
	tl.Promised(Promise{Epoch: 3, To: "b"})
	tl.Granted("c", 2, own)
	if !tl.Over(t0) || tl.MayLead(own.Position, t0) {
		t.Fatal("a candidate that promised epoch 3 to b may still lead epoch 2")
	}
}

// TestCandidateCopiesOnlyWhatItsSourcePromised: a pulled entry must be
// the next id, within the plan, of the epoch the source's promised
// history gives it; otherwise the source's log changed since.
func TestCandidateCopiesOnlyWhatItsSourcePromised(t *testing.T) {
	c := Copy{Source: "a", Keep: 2, Through: 6, History: hist(1, 1, 3, 4)}
	cases := []struct {
		name        string
		id, e, last uint64
		ok          bool
	}{
		{"the next id, of epoch 1", 3, 1, 2, true},
		{"the next id, of epoch 3", 4, 3, 3, true},
		{"of another epoch than the promised history", 4, 4, 3, false},
		{"a gap", 5, 3, 3, false},
		{"beyond the plan", 7, 3, 6, false},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			err := c.Take(k.id, k.e, k.last)
			if (err == nil) != k.ok || (err != nil && !errors.Is(err, ErrSourceChanged)) {
				t.Fatalf("Take = %v, want ok %v", err, k.ok)
			}
		})
	}
}

// TestCandidateRestartsItsLogWhereRetentionLeftItsSource: a source whose
// retention dropped the first id the candidate lacks cannot give it; the
// candidate restarts its log at the source's first id instead of failing
// every candidacy.
func TestCandidateRestartsItsLogWhereRetentionLeftItsSource(t *testing.T) {
	own := OfferOf(hist(1, 1), 3)
	src := OfferOf(hist(1, 1, 2, 6), 20)
	for _, c := range []struct {
		first   uint64
		restart bool
		from    uint64
	}{{0, false, 4}, {4, false, 4}, {10, true, 10}} {
		src.FirstID = c.first
		tl := NewTally(3, "a", own, 3, t0.Add(time.Second))
		tl.Granted("b", 3, src)
		got, ok := tl.Plan(own)
		if !ok || got.Keep != 3 || got.Restart != c.restart || got.From != c.from || got.Through != 20 {
			t.Errorf("source's first id %d: Plan = %+v, want restart %v from %d", c.first, got, c.restart, c.from)
		}
	}
}
