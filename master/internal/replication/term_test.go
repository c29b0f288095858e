package replication

import (
	"strings"
	"testing"

	"github.com/replog/replog/shared/frame"
)

// TestTermRefusesMoreVotersThanClusterSize: with CLUSTER_SIZE too small
// for the nodes that vote, majorities need not meet; the hello that
// would make one voter too many is refused, naming CLUSTER_SIZE.
// Learners and observers do not vote and are not counted; a voter that
// says hello again is the same voter.
func TestTermRefusesMoreVotersThanClusterSize(t *testing.T) {
	term := NewTerm(2, nil, "m1", "http://m1", "")
	term.Size = 3
	hello := func(name string, learner bool) error {
		_, err := term.hello("L", 0, frame.Frame{Type: frame.TypeHello, Name: name, Role: frame.RoleSecondary, LogID: "L", Learner: learner})
		return err
	}
	for _, name := range []string{"m2", "s1", "m2"} {
		if err := hello(name, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := hello("s9", true); err != nil {
		t.Fatalf("a learner: %v", err)
	}
	if err := hello("s2", false); err == nil || !strings.Contains(err.Error(), "CLUSTER_SIZE is 3") {
		t.Fatalf("a fourth voter of three: %v", err)
	}
}
