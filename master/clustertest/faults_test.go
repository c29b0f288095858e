package clustertest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/shared/poll"
)

// fast makes heartbeats frequent so health changes show within a test.
const fast = "HEARTBEAT_INTERVAL=100ms"

type masterHealth struct {
	Status string `json:"status"`
	LastID uint64 `json:"lastId"`
	Quorum struct {
		Required int `json:"required"`
		Healthy  int `json:"healthy"`
	} `json:"quorum"`
	Secondaries []struct {
		Name      string `json:"name"`
		Status    string `json:"status"`
		Connected bool   `json:"connected"`
		AckedID   uint64 `json:"ackedId"`
		LastSeen  string `json:"lastSeen"`
	} `json:"secondaries"`
}

// statusOf polls until the master reports name in status want.
func waitStatus(t *testing.T, m *node, name, want string) {
	t.Helper()
	poll.Check(t, 10*time.Second, func() error {
		h, err := getJSON[masterHealth](m.url() + "/health")
		if err != nil {
			return err
		}
		for _, s := range h.Secondaries {
			if s.Name == name {
				if s.Status != want {
					return fmt.Errorf("%s is %s, want %s", name, s.Status, want)
				}
				return nil
			}
		}
		return fmt.Errorf("%s not listed in %+v", name, h.Secondaries)
	})
}

// TestPausedSecondary: a SIGSTOPped secondary keeps its TCP connection but
// goes suspected, then unhealthy; after SIGCONT it is healthy and catches up.
func TestPausedSecondary(t *testing.T) {
	m := startMaster(t, fast)
	s1 := startSecondary(t, "s1", m)
	waitStatus(t, m, "s1", "healthy")
	s1.signal(syscall.SIGSTOP)
	waitStatus(t, m, "s1", "suspected")
	waitStatus(t, m, "s1", "unhealthy")
	for i := range 50 {
		appendMsg(t, m, fmt.Sprintf("during-pause-%d", i), 1)
	}
	s1.signal(syscall.SIGCONT)
	waitStatus(t, m, "s1", "healthy")
	want := mustLogOf(t, m)
	poll.Check(t, 20*time.Second, func() error { return sameLog(s1, want) })
}

// TestSecondaryRedialsASilentMaster: a paused master is given up on after
// four heartbeat intervals, and found again when it resumes.
func TestSecondaryRedialsASilentMaster(t *testing.T) {
	m := startMaster(t, fast)
	s1 := startSecondary(t, "s1", m)
	masterState := func(want string) func() error {
		return func() error {
			h, err := getJSON[map[string]any](s1.url() + "/health")
			if err != nil {
				return err
			}
			if h["master"] != want {
				return fmt.Errorf("secondary says master is %v, want %s", h["master"], want)
			}
			return nil
		}
	}
	poll.Check(t, 10*time.Second, masterState("connected"))
	m.signal(syscall.SIGSTOP)
	poll.Check(t, 10*time.Second, masterState("disconnected"))
	m.signal(syscall.SIGCONT)
	poll.Check(t, 20*time.Second, masterState("connected"))
	if r := appendMsg(t, m, "after", 2); r.Status != 201 {
		t.Fatalf("append after the master resumed: %+v", r)
	}
}

// TestQuorumReadOnly: without a quorum of healthy nodes appends are refused
// with nothing appended; writes already waiting keep waiting; when nodes
// come back writes are accepted again.
func TestQuorumReadOnly(t *testing.T) {
	m := startMaster(t, fast, "CLUSTER_SIZE=3") // quorum 2
	s1 := startSecondary(t, "s1", m)
	if r := appendMsg(t, m, "m1", 2); r.Status != 201 {
		t.Fatalf("m1: %+v", r)
	}
	waiting := make(chan reply, 1)
	go func() { waiting <- appendMsg(t, m, "m2-w3", 3) }()
	poll.Check(t, 10*time.Second, func() error { return sameLog(s1, entries("m1", "m2-w3")) })

	s1.kill()
	var h masterHealth
	poll.Check(t, 10*time.Second, func() error {
		var err error
		if h, err = getJSON[masterHealth](m.url() + "/health"); err == nil && h.Status != "read-only" {
			err = fmt.Errorf("health %+v", h)
		}
		return err
	})
	if h.Quorum.Required != 2 || h.Quorum.Healthy != 1 {
		t.Fatalf("quorum while read-only: %+v", h)
	}
	before := mustLogOf(t, m)
	refused := appendMsg(t, m, "refused", 1)
	if refused.Status != http.StatusServiceUnavailable || !refused.ReadOnly ||
		refused.Error != "read-only: 1 of 3 nodes healthy, 2 needed" {
		t.Fatalf("append while read-only: %+v", refused)
	}
	if err := sameLog(m, before); err != nil {
		t.Fatalf("a refused append left a trace: %v", err)
	}
	if h2 := mustGet[masterHealth](t, m.url()+"/health"); h2.LastID != h.LastID {
		t.Fatalf("lastId moved from %d to %d on a refused append", h.LastID, h2.LastID)
	}
	// Reads keep working; the waiting w=3 is not turned into an error.
	stillWaiting(t, waiting, "the waiting w=3 during read-only mode")

	s1.start()
	startSecondary(t, "s2", m)
	if r := awaitReply(t, waiting, 20*time.Second, 3); r.ID != 2 {
		t.Fatalf("the waiting w=3: %+v", r)
	}
	poll.Check(t, 10*time.Second, func() error {
		if r := appendMsg(t, m, "m3", 1); r.Status != 201 || r.ID != 3 {
			return fmt.Errorf("append after recovery: %+v", r)
		}
		return nil
	})
}

// TestMajority: "majority" is CLUSTER_SIZE/2+1, and refused without it.
func TestMajority(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3", "QUORUM=1")
	startSecondary(t, "s1", m)
	r := post(t, m, `{"message":"x","writeConcern":"majority"}`)
	if r.Status != 201 || r.Acks < 2 {
		t.Fatalf("majority of 3: %+v", r)
	}
	m2 := startMaster(t)
	if r := post(t, m2, `{"message":"x","writeConcern":"majority"}`); r.Status != 400 || !strings.Contains(r.Error, "CLUSTER_SIZE") {
		t.Fatalf("majority without CLUSTER_SIZE: %+v", r)
	}
}

// TestWriteTimeout: a write concern not met in time gets 504 with the id
// and the acks; the message stays and keeps replicating.
func TestWriteTimeout(t *testing.T) {
	m := startMaster(t, "WRITE_TIMEOUT=200ms")
	startSecondary(t, "s1", m)
	r := post(t, m, `{"message":"slow","writeConcern":3,"timeoutMs":300}`)
	if r.Status != 504 || r.ID != 1 || r.Acks != 2 || r.Error != "write concern not met in 300ms: held by 2 of 3 nodes" {
		t.Fatalf("timeoutMs 300: %+v", r)
	}
	r = appendMsg(t, m, "default timeout", 3) // WRITE_TIMEOUT applies
	if r.Status != 504 || r.ID != 2 || !strings.Contains(r.Error, "200ms") {
		t.Fatalf("WRITE_TIMEOUT: %+v", r)
	}
	s2 := startSecondary(t, "s2", m)
	poll.Check(t, 10*time.Second, func() error { return sameLog(s2, entries("slow", "default timeout")) })
	if r := post(t, m, `{"message":"fits","writeConcern":3,"timeoutMs":0}`); r.Status != 201 {
		t.Fatalf("timeoutMs 0 (no limit) with three nodes: %+v", r)
	}
}

// TestIdempotentAppends: one key, one log entry, whatever the retries.
func TestIdempotentAppends(t *testing.T) {
	m := startMaster(t)
	startSecondary(t, "s1", m)
	var wg sync.WaitGroup
	replies := make([]reply, 3)
	for i := range 2 {
		wg.Go(func() { replies[i] = post(t, m, `{"message":"once"}`, "Idempotency-Key", "key-1") })
	}
	wg.Wait()
	replies[2] = post(t, m, `{"message":"once","writeConcern":2}`, "Idempotency-Key", "key-1")
	firsts := 0
	for _, r := range replies {
		if r.ID != 1 {
			t.Fatalf("replies %+v: not one id", replies)
		}
		if r.Status == 201 && !r.Duplicate {
			firsts++
		} else if r.Status != 200 || !r.Duplicate {
			t.Fatalf("a repeat answered %+v", r)
		}
	}
	if firsts != 1 {
		t.Fatalf("%d requests appended", firsts)
	}
	if r := post(t, m, `{"message":"another"}`, "Idempotency-Key", "key-1"); r.Status != 422 {
		t.Fatalf("a key reused for another message: %+v", r)
	}
	if r := post(t, m, `{"message":"x"}`, "Idempotency-Key", "has space"); r.Status != 400 {
		t.Fatalf("a bad key: %+v", r)
	}
	if err := sameLog(m, entries("once")); err != nil {
		t.Fatal(err)
	}
}

// TestRetryAfterTimeoutNeverDuplicates: a client that times out and
// retries with its key gets the same id, never a second entry.
func TestRetryAfterTimeoutNeverDuplicates(t *testing.T) {
	m := startMaster(t)
	startSecondary(t, "s1", m)
	body := `{"message":"important","writeConcern":3,"timeoutMs":150}`
	first := post(t, m, body, "Idempotency-Key", "k")
	retry := post(t, m, body, "Idempotency-Key", "k")
	if first.Status != 504 || retry.Status != 504 || retry.ID != first.ID || !retry.Duplicate {
		t.Fatalf("first %+v, retry %+v", first, retry)
	}
	startSecondary(t, "s2", m)
	final := post(t, m, `{"message":"important","writeConcern":3,"timeoutMs":10000}`, "Idempotency-Key", "k")
	if final.Status != 200 || final.ID != first.ID || final.Acks != 3 || !final.Duplicate {
		t.Fatalf("retry once three nodes are up: %+v", final)
	}
	if err := sameLog(m, entries("important")); err != nil {
		t.Fatal(err)
	}
}

// TestFaultInjectionConverges: with half of the appends refused by one
// secondary and another slowed down, the log still converges in order,
// without duplicates, and /health shows the faults.
func TestFaultInjectionConverges(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3")
	s1 := startSecondary(t, "s1", m, "FAIL_RATE=0.5")
	s2 := startSecondary(t, "s2", m, "REPLICATION_DELAY=5ms-30ms")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if r := appendMsg(t, m, fmt.Sprintf("w%d-%d", w, i), 3); r.Status != 201 {
					t.Errorf("append: %+v", r)
				}
			}
		})
	}
	wg.Wait()
	want := mustLogOf(t, m)
	checkGapFree(t, want)
	if len(want) != 100 {
		t.Fatalf("master holds %d", len(want))
	}
	for _, s := range []*node{s1, s2} {
		if err := sameLog(s, want); err != nil { // w=3: already there
			t.Fatal(err)
		}
	}
	h := mustGet[map[string]any](t, s1.url()+"/health")
	if f, _ := h["faults"].(map[string]any); f["failRate"] != 0.5 {
		t.Fatalf("s1 health does not show FAIL_RATE: %v", h)
	}
	h = mustGet[map[string]any](t, s2.url()+"/health")
	if f, _ := h["faults"].(map[string]any); f["replicationDelay"] != "5ms-30ms" {
		t.Fatalf("s2 health does not show REPLICATION_DELAY: %v", h)
	}
}

// TestReplicationAuth: with a token set, only secondaries presenting it
// replicate and count; others are refused with 401 before the upgrade.
func TestReplicationAuth(t *testing.T) {
	m := startMaster(t, "REPLICATION_TOKEN=s3cret")
	startDetached(t, "intruder", m, "REPLICATION_TOKEN=wrong")
	startDetached(t, "anonymous", m)
	good := startSecondary(t, "s1", m, "REPLICATION_TOKEN=s3cret")
	if r := appendMsg(t, m, "x", 2); r.Status != 201 {
		t.Fatalf("w=2 with the good secondary: %+v", r)
	}
	if r := post(t, m, `{"message":"y","writeConcern":3,"timeoutMs":500}`); r.Status != 504 || r.Acks != 2 {
		t.Fatalf("w=3 counted a secondary without the token: %+v", r)
	}
	h := mustGet[masterHealth](t, m.url()+"/health")
	if len(h.Secondaries) != 1 || h.Secondaries[0].Name != "s1" {
		t.Fatalf("secondaries %+v", h.Secondaries)
	}
	poll.Check(t, 5*time.Second, func() error { return sameLog(good, entries("x", "y")) })
	resp, err := client.Get(m.url() + "/replicate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /replicate without a token: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(m.logs.String(), "wrong or missing token") {
		t.Fatal("refused peers were not logged")
	}
}

// TestFaultControlCutOffAndHeal: with FAULTS_API on both sides, cutting a
// secondary off through the master makes it unhealthy while it keeps its
// connection, a w=3 append waits, and healing it lets it catch up and the
// append return. Its own PUT /faults works the same way and tells the
// master.
func TestFaultControlCutOffAndHeal(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3", "HEARTBEAT_INTERVAL=100ms", "FAULTS_API=true")
	s1 := startSecondary(t, "s1", m, "FAULTS_API=true")
	startSecondary(t, "s2", m, "FAULTS_API=true")
	if r := appendMsg(t, m, "before", 3); r.Status != 201 {
		t.Fatalf("w=3 before the cut: %+v", r)
	}
	s1State := func(want string, connected bool) func() error {
		return func() error {
			h, err := getJSON[masterHealth](m.url() + "/health")
			if err != nil {
				return err
			}
			for _, s := range h.Secondaries {
				if s.Name == "s1" && s.Status == want && s.Connected == connected {
					return nil
				}
			}
			return fmt.Errorf("s1 is not %s (connected %v): %+v", want, connected, h.Secondaries)
		}
	}
	if r := put(t, m.url()+"/secondaries/s1/faults", `{"cutOff":true}`); r.Status != 200 {
		t.Fatalf("cut off: %+v", r)
	}
	poll.Check(t, 10*time.Second, s1State("unhealthy", true))
	waiting := make(chan reply, 1)
	go func() { waiting <- appendMsg(t, m, "during", 3) }()
	poll.Check(t, 10*time.Second, func() error { // s2 holds it: only s1's ack is missing
		return sameLog(m, entries("before", "during"))
	})
	stillWaiting(t, waiting, "a w=3 append with s1 cut off")
	if err := sameLog(s1, entries("before")); err != nil {
		t.Fatalf("a cut-off secondary applied: %v", err)
	}
	if r := put(t, m.url()+"/secondaries/s1/faults", `{"cutOff":false}`); r.Status != 200 {
		t.Fatalf("heal: %+v", r)
	}
	awaitReply(t, waiting, 10*time.Second, 3)
	poll.Check(t, 10*time.Second, func() error { return sameLog(s1, entries("before", "during")) })
	poll.Check(t, 10*time.Second, s1State("healthy", true))

	// The secondary's own PUT /faults: taken, shown in its /health, and
	// reported to the master.
	if r := put(t, s1.url()+"/faults", `{"replicationDelay":"5ms"}`); r.Status != 200 {
		t.Fatalf("PUT /faults on the secondary: %+v", r)
	}
	poll.Check(t, 10*time.Second, func() error {
		h, err := getJSON[map[string]any](m.url() + "/health")
		if err != nil {
			return err
		}
		if !strings.Contains(fmt.Sprint(h["secondaries"]), "replicationDelay:5ms") {
			return fmt.Errorf("the master does not show s1's new faults: %v", h["secondaries"])
		}
		return nil
	})
}
