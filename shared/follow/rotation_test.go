package follow

import (
	"slices"
	"testing"
)

// TestRotation: what a follower of three URLs dials, step by step.
func TestRotation(t *testing.T) {
	r := rotation{urls: []string{"a", "b", "c"}}
	steps := []struct {
		do        string // fail, accept or prefer:URL
		want      string // current after it
		roundOver bool   // fail's answer
	}{
		{"", "a", false},
		{"fail", "b", false},
		{"fail", "c", false},
		{"fail", "a", true}, // every one failed: back off, then from the first again
		{"fail", "b", false},
		{"accept", "b", false}, // b accepted the hello
		{"fail", "c", false},   // b went away: b was dialed first again, then c
		{"fail", "a", false},
		{"fail", "b", true}, // the next round starts from b, the last to accept
		{"fail", "c", false},
		{"accept", "c", false},
		{"fail", "a", false},
		{"prefer:b", "b", false}, // a hint: a new round from b
		{"fail", "c", false},
		{"prefer:d", "c", false}, // not a URL it was given: nothing changes
		{"fail", "a", false},
		{"fail", "b", true},
	}
	for i, s := range steps {
		switch {
		case s.do == "fail":
			if over := r.fail(); over != s.roundOver {
				t.Fatalf("step %d (%s): round over %v, want %v", i, s.do, over, s.roundOver)
			}
		case s.do == "accept":
			r.accept()
		case len(s.do) > 7 && s.do[:7] == "prefer:":
			url := s.do[7:]
			if known := r.prefer(url); known != slices.Contains(r.urls, url) {
				t.Fatalf("step %d (%s): prefer reported %v", i, s.do, known)
			}
		}
		if got := r.current(); got != s.want {
			t.Fatalf("step %d (%s): dials %s, want %s", i, s.do, got, s.want)
		}
	}
}

// TestRotationOfOneURL: with one URL every failure ends a round, so the
// follower backs off between dials as it always did.
func TestRotationOfOneURL(t *testing.T) {
	r := rotation{urls: []string{"a"}}
	for i := range 3 {
		if !r.fail() || r.current() != "a" {
			t.Fatalf("failure %d: not a round over a", i+1)
		}
	}
	r.accept()
	if r.current() != "a" {
		t.Fatal("accept moved off the only URL")
	}
}
