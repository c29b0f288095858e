package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/shared/poll"
)

// TestMasterCrashLosesNothingAcknowledged: SIGKILL the master while eight
// writers append with w=1 and FSYNC=always; after a restart on the same
// DATA_DIR every 201'd message is there with its id, ids go on without a
// gap or reuse, and the secondaries converge without duplicates.
func TestMasterCrashLosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	m := startMaster(t, "DATA_DIR="+data, "FSYNC=always")
	s1, s2 := startSecondary(t, "s1", m), startSecondary(t, "s2", m)
	before := logIDOf(t, m)

	var mu sync.Mutex
	acked := map[string]uint64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			untilStopped(stop, func(i int) bool {
				msg := fmt.Sprintf("w%d-%d", w, i)
				if r, err := postRaw(m, []byte(`{"message":"`+msg+`"}`), ""); err == nil && r.Status == 201 {
					mu.Lock()
					acked[msg] = r.ID
					mu.Unlock()
				}
				return true
			})
		})
	}
	poll.Check(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 300 {
			return fmt.Errorf("%d acknowledged so far", len(acked))
		}
		return nil
	})
	m.kill()
	close(stop)
	wg.Wait()

	m.start()
	if after := logIDOf(t, m); after != before {
		t.Fatalf("the log id changed across the restart: %s → %s", before, after)
	}
	got, err := logOf(m)
	if err != nil {
		t.Fatal(err)
	}
	checkGapFree(t, got)
	at := map[string]uint64{}
	var maxAcked uint64
	for _, e := range got {
		at[e.Message] = e.ID
	}
	for msg, id := range acked {
		if at[msg] != id {
			t.Errorf("acknowledged %s (id %d) is at id %d after the crash", msg, id, at[msg])
		}
		maxAcked = max(maxAcked, id)
	}
	r := appendMsg(t, m, "after-restart", 3)
	if r.Status != 201 || r.ID != uint64(len(got))+1 || r.ID <= maxAcked {
		t.Fatalf("first append after the restart: %+v (log held %d, highest acked %d)", r, len(got), maxAcked)
	}
	want := mustLogOf(t, m)
	for _, s := range []*node{s1, s2} {
		poll.Check(t, 20*time.Second, func() error { return sameLog(s, want) })
	}
	t.Logf("%d acknowledged before the kill, %d in the log after it", len(acked), len(got))
}

// TestDurableSecondaryResumes: a secondary with DATA_DIR killed mid-stream
// restarts with its log and is caught up from its own last id.
func TestDurableSecondaryResumes(t *testing.T) {
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m, "DATA_DIR="+t.TempDir())
	for i := range 200 {
		appendMsg(t, m, fmt.Sprintf("a-%d", i), 2)
	}
	stop := make(chan struct{})
	wg := stream(t, m, "b", stop)
	s1.kill()
	close(stop)
	wg.Wait()

	// With the master paused, the secondary shows what its own log holds.
	m.signal(syscall.SIGSTOP)
	s1.Ready = nil
	s1.start()
	h, err := getJSON[map[string]any](s1.url() + "/health")
	m.signal(syscall.SIGCONT)
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := h["lastId"].(float64); last < 200 {
		t.Fatalf("a restarted durable secondary holds %v ids, want at least the 200 it acked", h["lastId"])
	}
	want := mustLogOf(t, m)
	poll.Check(t, 20*time.Second, func() error { return sameLog(s1, want) })
	var last string
	for _, line := range strings.Split(m.logs.String(), "\n") {
		if strings.Contains(line, "replication peer connected") && strings.Contains(line, `"peer": "s1"`) {
			last = line
		}
	}
	if strings.Contains(last, `"from": 1,`) {
		t.Fatalf("the restarted secondary was replayed from id 1: %s", last)
	}
}

// TestIdempotencySurvivesRestart: a retry after a master restart with the
// same DATA_DIR is still recognised.
func TestIdempotencySurvivesRestart(t *testing.T) {
	m := startMaster(t, "DATA_DIR="+t.TempDir())
	first := post(t, m, `{"message":"pay"}`, "Idempotency-Key", "order-7")
	m.kill()
	m.start()
	again := post(t, m, `{"message":"pay"}`, "Idempotency-Key", "order-7")
	if first.Status != 201 || again.Status != 200 || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("first %+v, retry after restart %+v", first, again)
	}
	if err := sameLog(m, entries("pay")); err != nil {
		t.Fatal(err)
	}
}

// TestSecondaryMovesAnotherLogAside: a durable secondary facing a master
// with another log keeps its old data, moved aside, and resyncs.
func TestSecondaryMovesAnotherLogAside(t *testing.T) {
	data := t.TempDir()
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m, "DATA_DIR="+data)
	appendMsg(t, m, "old-log", 2)
	m.kill()
	m.start() // in memory: a new log
	appendMsg(t, m, "new-log", 1)
	poll.Check(t, 20*time.Second, func() error { return sameLog(s1, entries("new-log")) })
	aside, _ := filepath.Glob(filepath.Join(data, "node-1", "log.*", "*.seg"))
	if len(aside) == 0 {
		t.Fatal("the old log was not kept aside")
	}
	if !strings.Contains(s1.logs.String(), "master holds another log") {
		t.Fatal("no warning about the resync")
	}
}

// smallDisk mounts a tmpfs of size bytes at a new directory, or skips
// (make test lists every skip with its reason). CI runs as root, so there
// a skip would hide a disk-full test that never ran: it fails instead.
func smallDisk(t *testing.T, size string) string {
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("the disk-full tests need root to mount a small tmpfs; run them as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		skip("the disk-full tests cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func growDisk(t *testing.T, dir, size string) {
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v %s", err, out)
	}
}

// TestSecondaryDiskFull: a secondary that cannot store stops acking and
// says why in /health; once there is space it catches up.
func TestSecondaryDiskFull(t *testing.T) {
	dir := smallDisk(t, "256k")
	m := startMaster(t)
	s1 := startSecondary(t, "s1", m, "DATA_DIR="+dir)
	big := strings.Repeat("y", 8<<10)
	for i := range 40 {
		appendMsg(t, m, fmt.Sprintf("%d-%s", i, big), 1)
	}
	poll.Check(t, 20*time.Second, func() error {
		h, err := getJSON[map[string]any](s1.url() + "/health")
		if err == nil && (h["status"] != "error" || !strings.Contains(fmt.Sprint(h["error"]), "disk full")) {
			err = fmt.Errorf("secondary health %v", h)
		}
		return err
	})
	if r := post(t, m, `{"message":"w2","writeConcern":2,"timeoutMs":300}`); r.Status != 504 {
		t.Fatalf("a secondary with a full disk acked: %+v", r)
	}
	growDisk(t, dir, "4m")
	want := mustLogOf(t, m)
	poll.Check(t, 30*time.Second, func() error { return sameLog(s1, want) })
	poll.Check(t, 10*time.Second, func() error {
		h, err := getJSON[map[string]any](s1.url() + "/health")
		if err == nil && h["status"] != "ok" {
			err = fmt.Errorf("secondary health %v", h)
		}
		return err
	})
}

// TestDiskFull: on a full disk appends fail with 503 and change nothing;
// once there is space again they succeed, with no gap in the ids.
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t, "256k")
	m := startMaster(t, "DATA_DIR="+dir)
	var full reply
	big := strings.Repeat("x", 8<<10)
	for i := 0; ; i++ {
		r := appendMsg(t, m, fmt.Sprintf("%d-%s", i, big), 1)
		if r.Status != 201 {
			full = r
			break
		}
		if i > 100 {
			t.Fatal("a 256k disk never filled up")
		}
	}
	if full.Status != 503 || !strings.Contains(full.Error, "disk full") {
		t.Fatalf("append on a full disk: %+v", full)
	}
	before := mustLogOf(t, m)
	if r := appendMsg(t, m, "still full "+big, 1); r.Status != 503 {
		t.Fatalf("second append on a full disk: %+v", r)
	}
	if err := sameLog(m, before); err != nil {
		t.Fatalf("a failed append changed the log: %v", err)
	}
	growDisk(t, dir, "4m")
	if r := appendMsg(t, m, "space again", 1); r.Status != 201 || r.ID != uint64(len(before))+1 {
		t.Fatalf("append once space is back: %+v (log held %d)", r, len(before))
	}
	m.kill()
	m.start()
	got := mustLogOf(t, m)
	checkGapFree(t, got)
	if len(got) != len(before)+1 {
		t.Fatalf("after a restart the log holds %d, want %d", len(got), len(before)+1)
	}
}
