package clustertest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runMaster runs the master binary's subcommand with env added to the
// test's, and returns its exit status and output.
func runMaster(t *testing.T, sub string, env ...string) (status int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary(t, "master"), sub)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestCheckAgainstRealNodes: `master check`, the Helm chart's `helm
// test`, appends at a write concern through a real master and reads the
// message back from a real secondary; a write concern larger than the
// cluster fails it at once.
func TestCheckAgainstRealNodes(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3")
	s1 := startSecondary(t, "s1", m)
	startSecondary(t, "s2", m)
	appendMsg(t, m, "an earlier message", 1)
	urls := []string{"WRITE_URL=" + m.url(), "READ_URL=" + s1.url()}
	status, out, errOut := runMaster(t, "check", append(urls, "WRITE_CONCERN=3", "CHECK_TIMEOUT=20s")...)
	if status != 0 || !strings.Contains(out, "appended id 2 at writeConcern 3") {
		t.Fatalf("status %d, stdout %q, stderr %q", status, out, errOut)
	}
	if log := mustLogOf(t, s1); len(log) != 2 || !strings.HasPrefix(log[1].Message, "replog check ") {
		t.Errorf("s1 holds %v, want the check's message as id 2", log)
	}
	status, _, errOut = runMaster(t, "check", append(urls, "WRITE_CONCERN=4", "CHECK_TIMEOUT=20s")...)
	if status != 1 || !strings.Contains(errOut, "append refused") {
		t.Errorf("writeConcern 4 of 3 nodes: status %d, stderr %q; want 1, refused", status, errOut)
	}
}

// TestStepDownOfASingleMaster: a master without standbys (no PEERS)
// leads, has no one to hand over to, says so and exits 0, so a pod's
// deletion goes on.
func TestStepDownOfASingleMaster(t *testing.T) {
	m := startMaster(t)
	addr := strings.TrimPrefix(m.url(), "http://")
	status, _, errOut := runMaster(t, "step-down", "HTTP_ADDR="+addr, "NODE_NAME=master")
	if status != 0 || !strings.Contains(errOut, "master leads but no standby is healthy") {
		t.Errorf("status %d, stderr %q", status, errOut)
	}
}
