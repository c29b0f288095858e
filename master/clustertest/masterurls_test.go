package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

// TestSecondaryFollowsTheNextMasterOfItsList: a secondary given two
// master URLs follows the first. That master is killed and a second
// master process starts at the second URL on the same DATA_DIR, so with
// the same log: the secondary moves to it and resumes from its own last
// id — no resync from id 1 — and writes at writeConcern 2 are
// acknowledged again.
func TestSecondaryFollowsTheNextMasterOfItsList(t *testing.T) {
	data := t.TempDir()
	c := newCluster(t)
	a := addNode(t, c, proc.Spec{Name: "master", Env: []string{"DATA_DIR=" + data, "FSYNC=always"}})
	b := addNode(t, c, proc.Spec{Name: "master-b", Env: []string{"DATA_DIR=" + data, "FSYNC=always"}})
	a.start()
	s1 := addNode(t, c, proc.Spec{Name: "s1", Role: proc.Secondary}) // MASTER_URL lists a, then b
	s1.start()                                                       // connected to a when it returns
	for i := range 3 {
		if r := appendMsg(t, a, fmt.Sprintf("m%d", i+1), 2); r.Status != 201 {
			t.Fatalf("append %d at w=2 to the first master: %+v", i+1, r)
		}
	}

	a.kill()
	b.start()
	poll.Check(t, 20*time.Second, func() error { return proc.Connected(s1.Node) })
	if r := appendMsg(t, b, "m4", 2); r.Status != 201 || r.ID != 4 {
		t.Fatalf("append at w=2 to the second master: %+v, want 201 with id 4", r)
	}
	want := mustLogOf(t, b)
	if len(want) != 4 {
		t.Fatalf("the second master holds %v, want m1..m4", want)
	}
	poll.Check(t, 20*time.Second, func() error { return sameLog(s1, want) })
	if strings.Contains(s1.logs.String(), "dropping the local copy") {
		t.Fatal("the secondary dropped its copy: it took the second master for another log")
	}
	var hello string
	for line := range strings.Lines(b.logs.String()) {
		if strings.Contains(line, "replication peer connected") && strings.Contains(line, `"peer": "s1"`) {
			hello = line
		}
	}
	if hello == "" || strings.Contains(hello, `"from": 1,`) {
		t.Fatalf("the secondary was not resumed from its own last id by the second master: %q", hello)
	}
}
