package election

import (
	"testing"
	"time"

	"github.com/replog/replog/shared/epoch"
)

func TestLearnerIsReadmittedOnlyWithAMajorityWithoutItAndAfterItsHold(t *testing.T) {
	r := Readmission{Since: t0, Hold: 18 * time.Second}
	later := t0.Add(18 * time.Second)
	cases := []struct {
		name                  string
		now                   time.Time
		held, quorumID, start uint64
		want                  bool
	}{
		{"held, reported, past the start, after the hold", later, 12, 10, 8, true},
		{"before the hold is over", t0.Add(17 * time.Second), 12, 10, 8, false},
		{"not yet holding what the majority holds", later, 9, 10, 8, false},
		{"the majority without it has not reached the epoch start", later, 12, 7, 8, false},
		{"no report: the epoch has not begun", later, 12, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Ready(c.now, c.held, c.quorumID, c.start); got != c.want {
				t.Fatalf("Ready = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLeaderReportsWhatAMajorityWithoutTheLearnerHolds(t *testing.T) {
	l := NewLeadership("a", epoch.Start{Epoch: 2, FirstID: 5}, 5, time.Minute, t0)
	l.Ack("a", 9, t0)
	l.Ack("b", 6, t0) // a learner's acks are never fed to the leadership
	if got := l.QuorumWithout("w"); got != 0 {
		t.Fatalf("QuorumWithout before the epoch began = %d, want 0", got)
	}
	l.Ack("c", 7, t0)
	if !l.Begun() {
		t.Fatal("not begun with a, b, c holding the start")
	}
	if got := l.QuorumWithout("w"); got != 6 {
		t.Fatalf("QuorumWithout(w) = %d, want 6 (a 9, c 7, b 6)", got)
	}
	// Without a, only two of the five are known: no majority.
	if got := l.QuorumWithout("a"); got != 0 {
		t.Fatalf("QuorumWithout(a) = %d, want 0", got)
	}
}
