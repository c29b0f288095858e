package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSecondaryFollowsTheNextMasterOfItsList: a secondary given two
// master URLs follows the first. That master is killed and a second
// master process starts at the second URL on the same DATA_DIR, so with
// the same log: the secondary moves to it and resumes from its own last
// id — no resync from id 1 — and writes at writeConcern 2 are
// acknowledged again.
func TestSecondaryFollowsTheNextMasterOfItsList(t *testing.T) {
	data := t.TempDir()
	a := newNode(t, "master", binary(t, "master"), "DATA_DIR="+data, "FSYNC=always")
	b := newNode(t, "master-b", binary(t, "master"), "DATA_DIR="+data, "FSYNC=always")
	a.start()
	s1 := newNode(t, "s1", binary(t, "secondary"), "NODE_NAME=s1",
		"MASTER_URL=ws://"+a.Addr+"/replicate,ws://"+b.Addr+"/replicate")
	s1.start()
	checkFor(t, 20*time.Second, connected(s1))
	for i := range 3 {
		if r := appendMsg(t, a, fmt.Sprintf("m%d", i+1), 2); r.Status != 201 {
			t.Fatalf("append %d at w=2 to the first master: %+v", i+1, r)
		}
	}

	a.kill()
	b.start()
	checkFor(t, 20*time.Second, connected(s1))
	if r := appendMsg(t, b, "m4", 2); r.Status != 201 || r.ID != 4 {
		t.Fatalf("append at w=2 to the second master: %+v, want 201 with id 4", r)
	}
	want := mustLogOf(t, b)
	if len(want) != 4 {
		t.Fatalf("the second master holds %v, want m1..m4", want)
	}
	checkFor(t, 20*time.Second, func() error { return sameLog(s1, want) })
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
