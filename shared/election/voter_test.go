package election

import (
	"errors"
	"testing"
)

func TestPromiseRefusesLowerEpoch(t *testing.T) {
	v := NewVoter(Promise{Epoch: 5, To: "a"}, false)
	p, err := v.Prepare(4, "b")
	if !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("prepare for 4 after promising 5: err %v, want ErrStaleEpoch", err)
	}
	if p != (Promise{5, "a"}) {
		t.Fatalf("a refusal changed the promise to %v", p)
	}
}

func TestPromiseIsGivenForAnEpochOnceToOneCandidate(t *testing.T) {
	v := NewVoter(Promise{}, false)
	steps := []struct {
		e    uint64
		from string
		want error // nil: granted
	}{
		{3, "a", nil},
		{3, "a", nil}, // a lost answer, asked again
		{3, "b", ErrPromisedOther},
		{2, "b", ErrStaleEpoch},
		{4, "b", nil},
		{3, "a", ErrStaleEpoch},
	}
	for i, s := range steps {
		p, err := v.Prepare(s.e, s.from)
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d: Prepare(%d, %s) err %v, want %v", i, s.e, s.from, err, s.want)
		}
		if s.want == nil && p != (Promise{s.e, s.from}) {
			t.Fatalf("step %d: granted %v, want {%d %s} to persist", i, p, s.e, s.from)
		}
	}
}

func TestPromiseSurvivesRestart(t *testing.T) {
	v := NewVoter(Promise{}, false)
	onDisk, err := v.Prepare(7, "a")
	if err != nil {
		t.Fatal(err)
	}
	restarted := NewVoter(onDisk, false)
	if _, err := restarted.Accept(6, "old"); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("after a restart a leader of 6 was not refused: %v", err)
	}
	if _, err := restarted.Prepare(7, "b"); !errors.Is(err, ErrPromisedOther) {
		t.Fatalf("after a restart epoch 7 was promised again to another: %v", err)
	}
}

func TestFollowerRefusesLeaderOfLowerEpoch(t *testing.T) {
	cases := []struct {
		name     string
		promised Promise
		e        uint64
		leader   string
		want     error
		persist  Promise
	}{
		{"lower epoch", Promise{5, "a"}, 4, "b", ErrStaleEpoch, Promise{5, "a"}},
		{"the promised epoch from the one promised", Promise{5, "a"}, 5, "a", nil, Promise{5, "a"}},
		{"the promised epoch's winner, when a (promised) lost it", Promise{5, "a"}, 5, "b", nil, Promise{5, "b"}},
		{"the promised epoch's winner, when this node stood and lost", Promise{5, "me"}, 5, "b", nil, Promise{5, "b"}},
		{"a higher epoch is accepted once promised", Promise{5, "a"}, 6, "b", nil, Promise{6, "b"}},
		{"an upgraded log's epoch 1 from anyone", Promise{1, ""}, 1, "m", nil, Promise{1, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewVoter(c.promised, false)
			p, err := v.Accept(c.e, c.leader)
			if err == nil && c.promised.To != "" {
				// Following it, the voter refuses a second leader of
				// that epoch: there is one winner per epoch.
				defer func() {
					if _, err := v.Accept(c.e, "x"); !errors.Is(err, ErrPromisedOther) {
						t.Errorf("a second leader of epoch %d after %s: %v", c.e, c.leader, err)
					}
				}()
			}
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Accept(%d, %s) err %v, want %v", c.e, c.leader, err, c.want)
			}
			if p != c.persist || v.Promised() != c.persist {
				t.Fatalf("promise %v (voter %v), want %v", p, v.Promised(), c.persist)
			}
		})
	}
}

func TestCandidateStandsAboveEverythingSeen(t *testing.T) {
	v := NewVoter(Promise{4, "a"}, false)
	v.See(9)
	p, err := v.Stand("me", 6)
	if err != nil || p != (Promise{10, "me"}) {
		t.Fatalf("Stand = %v, %v; want {10 me}", p, err)
	}
	// It promised itself: another candidate of 10 is refused.
	if _, err := v.Prepare(10, "b"); !errors.Is(err, ErrPromisedOther) {
		t.Fatalf("a candidate promised its own epoch to another: %v", err)
	}
	if p, _ := v.Stand("me", 0); p.Epoch != 11 {
		t.Fatalf("a second candidacy stands for %d, want 11", p.Epoch)
	}
}

func TestLearnerNeitherVotesNorStands(t *testing.T) {
	v := NewVoter(Promise{}, true)
	if _, err := v.Prepare(3, "a"); !errors.Is(err, ErrLearner) {
		t.Fatalf("a learner answered a prepare: %v", err)
	}
	if _, err := v.Stand("me", 0); !errors.Is(err, ErrLearner) {
		t.Fatalf("a learner stood: %v", err)
	}
	// It follows a leader (that is how it catches up) ...
	if _, err := v.Accept(3, "a"); err != nil {
		t.Fatalf("a learner refused a leader: %v", err)
	}
	// ... and votes once re-admitted.
	v.Readmit(Promise{3, "a"})
	if _, err := v.Prepare(4, "b"); err != nil {
		t.Fatalf("a re-admitted learner refused a prepare: %v", err)
	}
}
