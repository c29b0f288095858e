package clustertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
)

type logHealth struct {
	FirstID   uint64 `json:"firstId"`
	LastID    uint64 `json:"lastId"`
	HeldBytes int64  `json:"heldBytes"`
}

// appendBatches appends n messages named prefix-i in batches of size,
// from 4 writers, each batch with writeConcern w.
func appendBatches(t *testing.T, m *node, prefix string, n, size, w int) {
	t.Helper()
	var wg sync.WaitGroup
	batches := make(chan int, n/size+1)
	for i := 0; i < n; i += size {
		batches <- i
	}
	close(batches)
	for range 4 {
		wg.Go(func() {
			for start := range batches {
				msgs := make([]string, 0, size)
				for i := start; i < min(start+size, n); i++ {
					msgs = append(msgs, fmt.Sprintf("%s-%06d", prefix, i))
				}
				b, _ := json.Marshal(map[string]any{"messages": msgs, "writeConcern": w})
				if r := post(t, m, string(b)); r.Status != http.StatusCreated {
					t.Errorf("batch from %d: %+v", start, r)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// window waits until n shows exactly first..last, gap-free, and the
// master's messages there.
func window(t *testing.T, n *node, want []frame.Entry) {
	t.Helper()
	poll.Check(t, 30*time.Second, func() error {
		h, err := getJSON[logHealth](n.url() + "/health")
		if err != nil {
			return err
		}
		if h.FirstID != want[0].ID || h.LastID != want[len(want)-1].ID {
			return fmt.Errorf("%s holds %d..%d, want %d..%d", n.name, h.FirstID, h.LastID, want[0].ID, want[len(want)-1].ID)
		}
		return sameLog(n, want)
	})
}

// TestRetentionInMemory: with RETENTION_MAX_MESSAGES=1000, after 20,000
// appends with w=2 the master and its secondary show exactly the newest
// 1000, the same firstId..lastId, gap-free; a secondary that joins then
// starts at the master's first id, with a warning, and shows the window.
func TestRetentionInMemory(t *testing.T) {
	m := startMaster(t, "RETENTION_MAX_MESSAGES=1000", fast)
	s1 := startSecondary(t, "s1", m)
	appendBatches(t, m, "m", 20000, 100, 2)
	poll.Check(t, 10*time.Second, func() error {
		h, err := getJSON[logHealth](m.url() + "/health")
		if err == nil && (h.FirstID != 19001 || h.LastID != 20000) {
			err = fmt.Errorf("the master holds %d..%d, want 19001..20000", h.FirstID, h.LastID)
		}
		return err
	})
	want := mustLogOf(t, m)
	if len(want) != 1000 || want[0].ID != 19001 {
		t.Fatalf("the master's log: %d entries from %v", len(want), want[0])
	}
	window(t, s1, want)
	s2 := startSecondary(t, "s2", m)
	window(t, s2, want)
	if !strings.Contains(s2.logs.String(), "restarting the log at the master's first id") {
		t.Fatal("the new secondary did not warn of the ids it cannot get")
	}
}

// TestRetentionDurable: small segments and RETENTION_MAX_BYTES: old
// segment files are deleted; a kill -9 and restart of the master keeps
// firstId, lastId and every held message; a durable secondary killed and
// left behind past the window rejoins at firstId, with a warning.
func TestRetentionDurable(t *testing.T) {
	dir := t.TempDir()
	m := startMaster(t, "DATA_DIR="+dir, "SEGMENT_BYTES=65536", "RETENTION_MAX_BYTES=200000", fast)
	s1 := startSecondary(t, "s1", m, "DATA_DIR="+t.TempDir(), "SEGMENT_BYTES=65536")
	big := strings.Repeat("x", 990)
	post1k := func(from, n int) {
		for i := from; i < from+n; i += 50 {
			msgs := make([]string, 50)
			for j := range msgs {
				msgs[j] = fmt.Sprintf("%06d%s", i+j, big)
			}
			b, _ := json.Marshal(map[string]any{"messages": msgs})
			if r := post(t, m, string(b)); r.Status != http.StatusCreated {
				t.Fatalf("batch: %+v", r)
			}
		}
	}
	post1k(0, 1000) // about 1 MB: five times the limit
	var h logHealth
	poll.Check(t, 10*time.Second, func() error {
		var err error
		if h, err = getJSON[logHealth](m.url() + "/health"); err == nil && (h.HeldBytes > 200000 || h.FirstID == 1) {
			err = fmt.Errorf("the master holds %d..%d, %d bytes", h.FirstID, h.LastID, h.HeldBytes)
		}
		return err
	})
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
	if len(segs) > 5 { // 200 kB of 64 KiB segments, plus the one partly below the window
		t.Fatalf("%d segment files for a window of 200 kB", len(segs))
	}
	want := mustLogOf(t, m)
	window(t, s1, want)

	m.kill()
	m.start()
	if got := mustGet[logHealth](t, m.url()+"/health"); got.FirstID != h.FirstID || got.LastID != h.LastID {
		t.Fatalf("after kill -9: %d..%d, want %d..%d", got.FirstID, got.LastID, h.FirstID, h.LastID)
	}
	if err := sameLog(m, want); err != nil {
		t.Fatalf("after kill -9: %v", err)
	}

	s1.kill()
	post1k(1000, 1000)
	poll.Check(t, 10*time.Second, func() error {
		h, err := getJSON[logHealth](m.url() + "/health")
		if err == nil && h.FirstID <= 1000 {
			err = fmt.Errorf("the window has not passed the stopped secondary: %d..%d", h.FirstID, h.LastID)
		}
		return err
	})
	s1.start()
	window(t, s1, mustLogOf(t, m))
	if !strings.Contains(s1.logs.String(), "restarting the log at the master's first id") {
		t.Fatal("the secondary left behind did not warn of the ids it cannot get")
	}
}

// TestRetentionByAge: RETENTION_MAX_AGE drops the rolled segments whose
// newest message is older; the one being appended to stays.
func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	m := startMaster(t, "DATA_DIR="+dir, "SEGMENT_BYTES=65536", "RETENTION_MAX_AGE=1s")
	big := strings.Repeat("y", 1000)
	for i := range 5 {
		msgs := make([]string, 70)
		for j := range msgs {
			msgs[j] = fmt.Sprintf("%d-%d-%s", i, j, big)
		}
		b, _ := json.Marshal(map[string]any{"messages": msgs})
		if r := post(t, m, string(b)); r.Status != http.StatusCreated {
			t.Fatalf("batch: %+v", r)
		}
	}
	poll.Check(t, 10*time.Second, func() error {
		segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
		h, err := getJSON[logHealth](m.url() + "/health")
		if err == nil && (len(segs) != 1 || h.FirstID == 1 || h.LastID != 350) {
			err = fmt.Errorf("%d segments, log %d..%d", len(segs), h.FirstID, h.LastID)
		}
		return err
	})
}

// TestRetentionAnswersWaitingWrites: a write waiting for a secondary that
// is cut off, whose message retention drops, is answered 504 with
// "dropped": it could never be met; it does not hang.
func TestRetentionAnswersWaitingWrites(t *testing.T) {
	m := startMaster(t, "RETENTION_MAX_MESSAGES=5", "FAULTS_API=true", fast)
	startSecondary(t, "s1", m, "FAULTS_API=true")
	if r := put(t, m.url()+"/secondaries/s1/faults", `{"cutOff":true}`); r.Status != 200 {
		t.Fatalf("cut off s1: %+v", r)
	}
	waiting := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(m.url()+"/messages", "application/json", strings.NewReader(`{"message":"waits","writeConcern":2}`))
		if err != nil {
			t.Errorf("the waiting write: %v", err)
		}
		waiting <- resp
	}()
	poll.Check(t, 10*time.Second, func() error {
		if h := mustGet[map[string]any](t, m.url()+"/health"); h["lastId"] != 1.0 {
			return fmt.Errorf("not stored yet: %v", h["lastId"])
		}
		return nil
	})
	for i := range 10 {
		appendMsg(t, m, fmt.Sprintf("push-%d", i), 1)
	}
	select {
	case resp := <-waiting:
		if resp == nil {
			t.FailNow()
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusGatewayTimeout || body["dropped"] != true || body["id"] != 1.0 {
			t.Fatalf("the dropped write: %d %v", resp.StatusCode, body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a write whose message retention dropped still waits after 20 s")
	}
}
