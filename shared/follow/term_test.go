package follow

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// TestDivergence: a follower holding ids of an epoch its new leader
// never had moves them to rollback/<E>-<from>-<to>.jsonl, exactly those
// messages, counts them, acks where its log then ends, and appends the
// leader's entries in their place.
func TestDivergence(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenDisk(dir, store.DiskOptions{NewLogID: "L"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must(t, st.SetPromise(store.Promise{Promise: election.Promise{Epoch: 2, To: "m9"}}))
	_, err = st.Append(store.Record{Message: "m1"}, store.Record{Message: "m2"}, store.Record{Message: "m3"})
	must(t, err)
	must(t, st.SetHistory(epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 2, FirstID: 4}}))
	_, err = st.Append(store.Record{Message: "old4", Epoch: 2}, store.Record{Message: "old5", Epoch: 2})
	must(t, err)

	var noted []string // what OnRollBack was told, on the link's reader
	var mu sync.Mutex
	c, nodes := startFailover(t, st, 1, func(cfg *Config) {
		cfg.OnRollBack = func(rb store.Rollback, leader string) {
			mu.Lock()
			defer mu.Unlock()
			noted = append(noted, fmt.Sprintf("%d..%d %s %s %d", rb.From, rb.To, rb.File, leader, rb.Epoch))
		}
	})
	m, h := nodes[0].Accept()
	if h.LastID != 5 || h.LastEpoch != 2 || !slices.Equal(h.Epochs, starts(1, 1, 2, 4)) {
		t.Fatalf("hello %+v", h)
	}
	// The leader of epoch 3 never had epoch 2: its log agrees up to 3.
	m.Send(leading("m3", 3, starts(1, 1, 3, 4), 3, 4))
	expectAck(t, m, 3, 3)
	if got := c.RolledBack(); got != 2 {
		t.Fatalf("RolledBack() = %d, want 2", got)
	}
	mu.Lock()
	if want := []string{"4..5 " + filepath.Join("rollback", "3-4-5.jsonl") + " m3 3"}; !slices.Equal(noted, want) {
		t.Errorf("OnRollBack was told %q, want %q", noted, want)
	}
	mu.Unlock()
	lines := rollbackFile(t, filepath.Join(dir, "rollback", "3-4-5.jsonl"))
	if want := []string{"4 old4 2", "5 old5 2"}; !slices.Equal(lines, want) {
		t.Fatalf("rollback file holds %q, want %q", lines, want)
	}
	m.Send(appendOf(3, 4, 5))
	expectAck(t, m, 5, 3)
	got, _ := st.Read(nil, 1, 10, 1<<20)
	for i, want := range []string{"m1", "m2", "m3", "m4", "m5"} {
		if got[i].Message != want {
			t.Fatalf("id %d holds %q, want %q", i+1, got[i].Message, want)
		}
	}
	if h := st.History(); !slices.Equal(h, epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 3, FirstID: 4}}) || st.EpochOf(5) != 3 {
		t.Fatalf("history %v, id 5 of epoch %d", h, st.EpochOf(5))
	}
}

// rollbackFile reads a rollback file as "id message epoch" lines.
func rollbackFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			ID      uint64 `json:"id"`
			Message string `json:"message"`
			Epoch   uint64 `json:"epoch"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lines = append(lines, fmt.Sprintf("%d %s %d", e.ID, e.Message, e.Epoch))
	}
	return lines
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFollowerRefusesAKeepItDoesNotFind: the leader's keep and the
// follower's own computation from the leader's history must agree; a
// disagreement is a bug, and the follower refuses before it rolls back
// anything.
func TestFollowerRefusesAKeepItDoesNotFind(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "a"}, store.Record{Message: "b"}, store.Record{Message: "c"})
	c, nodes := startFailover(t, st, 1, nil)
	m, _ := nodes[0].Accept()
	m.Send(leading("m3", 3, starts(1, 1, 3, 4), 1, 3)) // it agrees up to 3, not 1
	expectRefusal(t, m, "up to id 1, but I find 3")
	if st.LastID() != 3 || c.RolledBack() != 0 {
		t.Fatalf("holds up to %d, rolled back %d", st.LastID(), c.RolledBack())
	}
}

// TestFollowerAheadOfItsLeaderInEpochOneIsRefused: with both logs in
// epoch 1 the histories cannot tell a tail the leader lost from one it
// never had; the follower refuses (epoch.CheckEpochOne).
func TestFollowerAheadOfItsLeaderInEpochOneIsRefused(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "a"}, store.Record{Message: "b"}, store.Record{Message: "c"})
	_, nodes := startFailover(t, st, 1, nil)
	m, _ := nodes[0].Accept()
	m.Send(leading("m1", 1, starts(1, 1), 2, 2))
	expectRefusal(t, m, "ahead of its leader in epoch 1")
}

// recorder notes, in order, the appends and history saves of a store.
type recorder struct {
	store.Store
	mu    sync.Mutex
	calls []string // guarded by mu
}

func (r *recorder) Append(recs ...store.Record) (uint64, error) {
	last, err := r.Store.Append(recs...)
	if err == nil {
		r.note(fmt.Sprintf("append %d-%d", last+1-uint64(len(recs)), last))
	}
	return last, err
}

func (r *recorder) SetHistory(h epoch.History) error {
	err := r.Store.SetHistory(h)
	if err == nil {
		r.note(fmt.Sprintf("history %v", h))
	}
	return err
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestFollowerAdoptsAnEpochStartOnlyWhenItsLogReachesIt (A5): a record
// of epoch k is written only once the history holds k's start, and the
// start is saved once the log reaches the id before it — before the ack
// that says so — and not before.
func TestFollowerAdoptsAnEpochStartOnlyWhenItsLogReachesIt(t *testing.T) {
	for _, c := range []struct {
		name   string
		frames [][]uint64
		want   []string
	}{
		{"a frame crossing the start", [][]uint64{{1, 2, 3, 4}},
			[]string{"history [{1 1}]", "append 1-2", "history [{1 1} {3 3}]", "append 3-4"}},
		{"a frame ending before the start", [][]uint64{{1}, {2}, {3, 4}},
			[]string{"history [{1 1}]", "append 1-1", "append 2-2", "history [{1 1} {3 3}]", "append 3-4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &recorder{Store: store.NewMemory("")}
			_, nodes := startFailover(t, st, 1, nil)
			m, _ := nodes[0].Accept()
			m.Send(leading("m3", 3, starts(1, 1, 3, 3), 0, 4))
			expectAck(t, m, 0, 3)
			for _, ids := range c.frames {
				f := appendOf(1, ids...)
				for i := range f.Entries {
					if f.Entries[i].ID >= 3 {
						f.Entries[i].Epoch = 3
					}
				}
				m.Send(f)
				last := ids[len(ids)-1]
				expectAck(t, m, last, 3)
				if last == 2 && !slices.Contains(st.Calls(), "history [{1 1} {3 3}]") {
					t.Fatalf("ack of 2 before the start at 3 was saved: %q", st.Calls())
				}
			}
			if got := st.Calls(); !slices.Equal(got, c.want) {
				t.Fatalf("calls %q, want %q", got, c.want)
			}
		})
	}
}

// TestFollowerAnswersAPull: a pull is answered in batches with every
// entry's epoch; a range the log does not hold gets an error frame and
// the link stays.
func TestFollowerAnswersAPull(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "a"}, store.Record{Message: "b"}, store.Record{Message: "c"})
	must(t, st.SetHistory(epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 2, FirstID: 4}}))
	must(t, st.SetPromise(store.Promise{Promise: election.Promise{Epoch: 2, To: "m2"}}))
	for id := 4; id <= 1500; id++ {
		_, err := st.Append(store.Record{Message: fmt.Sprint("m", id), Epoch: 2})
		must(t, err)
	}
	_, nodes := startFailover(t, st, 1, nil)
	m, _ := nodes[0].Accept()
	m.Send(standing("m1", 3))
	m.Send(frame.Frame{Type: frame.TypePull, From: 2, To: 1300})
	next := uint64(2)
	batches := 0
	for next <= 1300 {
		f := m.Expect(frame.TypePulled)
		batches++
		if len(f.Entries) > pullMaxEntries {
			t.Fatalf("a pulled frame of %d entries", len(f.Entries))
		}
		for _, e := range f.Entries {
			want := uint64(0)
			if e.ID >= 4 {
				want = 2
			}
			if e.ID != next || e.Epoch != want {
				t.Fatalf("pulled id %d of epoch %d, want id %d of epoch %d", e.ID, e.Epoch, next, want)
			}
			next++
		}
	}
	if next != 1301 || batches < 2 {
		t.Fatalf("pulled up to %d in %d frames", next-1, batches)
	}
	m.Send(frame.Frame{Type: frame.TypePull, From: 1400, To: 1600})
	if f := m.Expect(frame.TypeError); f.Error != "pull 1400..1600: this node holds 1..1500" {
		t.Fatalf("error %q", f.Error)
	}
	m.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 3})
	if hb, err := m.ReadAny(); err != nil || hb.Type != frame.TypeHeartbeat || hb.ID != 3 {
		t.Fatalf("after the refused pull: %+v %v", hb, err)
	}
}
