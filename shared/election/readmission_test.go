package election

import (
	"testing"
	"time"

	"github.com/replog/replog/shared/epoch"
)

func TestLearnerIsReadmittedOnlyOnceConfirmedHoldingItsReadmitIDAndAfterItsHold(t *testing.T) {
	r := Readmission{Since: t0, Hold: 18 * time.Second}
	later := t0.Add(18 * time.Second)
	cases := []struct {
		name                   string
		now                    time.Time
		held, readmitID, start uint64
		confirmed              bool
		want                   bool
	}{
		{"held, reported, past the start, confirmed, after the hold", later, 12, 10, 8, true, true},
		{"before the hold is over", t0.Add(17 * time.Second), 12, 10, 8, true, false},
		{"not yet holding what it must", later, 9, 10, 8, true, false},
		{"the report is below the epoch start", later, 12, 7, 8, true, false},
		{"no report: the epoch has not begun", later, 12, 0, 0, true, false},
		{"not confirmed by a fresh round", later, 12, 10, 8, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Ready(c.now, c.held, c.readmitID, c.start, c.confirmed); got != c.want {
				t.Fatalf("Ready = %v, want %v", got, c.want)
			}
		})
	}
}

// TestLearnerMustHoldWhatItsForgottenAcksAcknowledged: the id a learner
// must hold counts its own acks from before the wipe (a lagging voter
// cannot hold it down), and those acks stop counting once it is known
// to be a learner.
func TestLearnerMustHoldWhatItsForgottenAcksAcknowledged(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 2, FirstID: 2}, 3, time.Minute, t0)
	l.Ack("b", 1, t0) // b lags
	l.Ack("c", 4, t0) // c acks 2..4 with a: acknowledged at w=2
	l.Ack("a", 4, t0)
	if !l.Acknowledged(4, 2) {
		t.Fatal("4 is not acknowledged at w=2")
	}
	if got := l.ReadmitID("c"); got != 0 {
		t.Fatalf("ReadmitID of a voter = %d, want 0", got)
	}
	l.Learner("c")
	if got := l.ReadmitID("c"); got != 4 {
		t.Fatalf("ReadmitID(c) = %d, want 4 (what its forgotten ack acknowledged)", got)
	}
	l.Ack("a", 5, t0)
	if l.Acknowledged(4, 2) || l.Acknowledged(5, 2) {
		t.Fatal("a learner's old ack still counts")
	}
	l.Ack("c", 5, t0) // re-admitted: its acks count again
	if !l.Acknowledged(5, 2) || l.ReadmitID("c") != 0 {
		t.Fatal("a re-admitted voter's ack does not count")
	}
}

// TestLearnerIsConfirmedOnlyByAFreshMajorityWithoutIt: acks the leader
// had before the learner said it was ready prove nothing (a deposed
// leader has such acks); echoes of a later round from a majority not
// counting the learner do.
func TestLearnerIsConfirmedOnlyByAFreshMajorityWithoutIt(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 1, FirstID: 1}, 3, time.Minute, t0)
	l.Ack("b", 1, t0)
	l.Echo("b", l.Round())
	l.Learner("c")
	if l.Confirmed("c") {
		t.Fatal("confirmed before the learner said it was ready")
	}
	l.LearnerReady("c")
	if l.Confirmed("c") {
		t.Fatal("confirmed by b's ack from before the learner was ready")
	}
	l.Echo("c", l.Round()) // a learner's own echo never counts
	if l.Confirmed("c") {
		t.Fatal("confirmed by the learner itself")
	}
	l.Echo("b", l.Round())
	if !l.Confirmed("c") {
		t.Fatal("not confirmed by a and b, fresh")
	}
	r := l.Round()
	l.LearnerReady("c") // said again: the round is not restarted
	if l.Round() != r {
		t.Fatal("a repeated ready started a new round")
	}
}
