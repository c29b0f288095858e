package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
)

// implementations is every Store; the suite below runs against each.
var implementations = map[string]func(t *testing.T) Store{
	"memory": func(t *testing.T) Store { return NewMemory("log-a") },
	"disk": func(t *testing.T) Store {
		// Small segments and a small tail cache, so that reads cross
		// segments and go to the files.
		d, err := OpenDisk(t.TempDir(), DiskOptions{NewLogID: "log-a", SegmentBytes: 4096, TailEntries: 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	},
}

func TestStore(t *testing.T) {
	for name, open := range implementations {
		t.Run(name, func(t *testing.T) {
			t.Run("AppendRead", func(t *testing.T) { testAppendRead(t, open(t)) })
			t.Run("ReadLimits", func(t *testing.T) { testReadLimits(t, open(t)) })
			t.Run("Reset", func(t *testing.T) { testReset(t, open(t)) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
			t.Run("LargeMessages", func(t *testing.T) { testLargeMessages(t, open(t)) })
			t.Run("Changed", func(t *testing.T) { testChanged(t, open(t)) })
			t.Run("DropBefore", func(t *testing.T) { testDropBefore(t, open(t)) })
			t.Run("FitBytes", func(t *testing.T) { testFitBytes(t, open(t)) })
			t.Run("LongKey", func(t *testing.T) { testLongKey(t, open(t)) })
		})
	}
}

func mustAppend(t *testing.T, s Store, msg string) uint64 {
	t.Helper()
	id, err := s.Append(Record{Message: msg})
	if err != nil {
		t.Fatalf("append %q: %v", msg, err)
	}
	return id
}

func testAppendRead(t *testing.T, s Store) {
	if s.LastID() != 0 {
		t.Fatalf("new store LastID = %d", s.LastID())
	}
	for i := 1; i <= 10; i++ {
		if id := mustAppend(t, s, fmt.Sprintf("m%d", i)); id != uint64(i) {
			t.Fatalf("append %d got id %d", i, id)
		}
	}
	got, err := s.Read(nil, 4, 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []frame.Entry{{ID: 4, Message: "m4"}, {ID: 5, Message: "m5"}, {ID: 6, Message: "m6"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Read(4, 3) = %v, want %v", got, want)
	}
	if got, _ := s.Read(nil, 11, 5, 1<<20); len(got) != 0 {
		t.Fatalf("read past the end = %v", got)
	}
	if _, err := s.Read(nil, 0, 5, 1<<20); !errors.Is(err, ErrBadRange) {
		t.Fatalf("read from 0: %v", err)
	}
	if last, err := s.Append(); err != nil || last != 10 {
		t.Fatalf("an empty append = %d, %v; want the last id and no change", last, err)
	}
	if s.LogID() != "log-a" {
		t.Fatalf("LogID = %q", s.LogID())
	}
}

func testReadLimits(t *testing.T, s Store) {
	for range 5 {
		mustAppend(t, s, strings.Repeat("x", 100))
	}
	got, _ := s.Read(nil, 1, 100, 250)
	if len(got) != 2 {
		t.Fatalf("maxBytes 250 over 100-byte messages returned %d entries, want 2", len(got))
	}
	got, _ = s.Read(nil, 1, 100, 10)
	if len(got) != 1 {
		t.Fatalf("maxBytes below one message returned %d entries, want 1", len(got))
	}
}

func testReset(t *testing.T, s Store) {
	mustAppend(t, s, "old")
	kept, _ := s.Read(nil, 1, 1, 100)
	if err := s.Reset("log-b"); err != nil {
		t.Fatal(err)
	}
	if s.LastID() != 0 || s.LogID() != "log-b" {
		t.Fatalf("after reset LastID=%d LogID=%q", s.LastID(), s.LogID())
	}
	if id := mustAppend(t, s, "new"); id != 1 {
		t.Fatalf("first append after reset got id %d", id)
	}
	if kept[0].Message != "old" {
		t.Fatalf("an entry read before Reset changed to %q", kept[0].Message)
	}
}

func testConcurrent(t *testing.T, s Store) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				mustAppend(t, s, fmt.Sprintf("w%d-%d", w, i))
				if _, err := s.Read(nil, 1, 50, 1<<20); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	all, _ := s.Read(nil, 1, 10000, 1<<30)
	if len(all) != 1600 {
		t.Fatalf("%d entries after 1600 appends", len(all))
	}
	seen := map[string]bool{}
	for i, e := range all {
		if e.ID != uint64(i+1) || seen[e.Message] {
			t.Fatalf("entry %d = %+v (duplicate or gap)", i, e)
		}
		seen[e.Message] = true
	}
}

func testLargeMessages(t *testing.T, s Store) {
	big := strings.Repeat("b", chunkSize+10)
	mustAppend(t, s, "small")
	mustAppend(t, s, big)
	mustAppend(t, s, "after")
	got, _ := s.Read(nil, 1, 3, 1<<30)
	if len(got) != 3 || got[1].Message != big || got[2].Message != "after" {
		t.Fatalf("large message round trip failed: %d entries", len(got))
	}
}

// testChanged: Changed's channel closes once per change, an append or a
// reset, for every waiter, and not before.
func testChanged(t *testing.T, st Store) {
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	a, b := st.Changed(), st.Changed()
	if closed(a) {
		t.Fatal("Changed is closed before any change")
	}
	if _, err := st.Append(); err != nil || closed(a) {
		t.Fatalf("an empty append woke waiters (err %v)", err)
	}
	if _, err := st.Append(Record{Message: "x"}, Record{Message: "y"}); err != nil {
		t.Fatal(err)
	}
	if !closed(a) || !closed(b) {
		t.Fatal("an append did not wake every waiter")
	}
	c := st.Changed()
	if closed(c) {
		t.Fatal("the next change's channel is already closed")
	}
	if err := st.Reset("other"); err != nil {
		t.Fatal(err)
	}
	if !closed(c) {
		t.Fatal("a reset did not wake waiters")
	}
}

// testLongKey: a key longer than MaxKeyBytes is refused with
// ErrKeyTooLong and the whole append with it (a durable log writes the
// key's length in one byte: a longer key would corrupt its record); a key
// of MaxKeyBytes is taken.
func testLongKey(t *testing.T, s Store) {
	mustAppend(t, s, "before")
	long := Record{Message: "long", Key: strings.Repeat("k", MaxKeyBytes+1), Digest: 1, Time: time.Now()}
	if _, err := s.Append(Record{Message: "fine"}, long); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("append with a %d-byte key: %v, want ErrKeyTooLong", len(long.Key), err)
	}
	if s.LastID() != 1 {
		t.Fatalf("a refused append stored something: LastID %d", s.LastID())
	}
	if id, err := s.Append(Record{Message: "longest", Key: strings.Repeat("k", MaxKeyBytes), Digest: 1, Time: time.Now()}); err != nil || id != 2 {
		t.Fatalf("append with a %d-byte key: %d, %v", MaxKeyBytes, id, err)
	}
	if got, err := s.Read(nil, 1, 10, 1<<20); err != nil || len(got) != 2 || got[1].Message != "longest" {
		t.Fatalf("the log holds %v, %v", got, err)
	}
}

// testDropBefore: retention moves the first id exactly; ids never change;
// reads from below the first id read from it; the held bytes follow; and
// dropping past the end restarts the log there.
func testDropBefore(t *testing.T, s Store) {
	for i := 1; i <= 300; i++ {
		mustAppend(t, s, fmt.Sprintf("message-%06d", i)) // 14 bytes each
	}
	if s.FirstID() != 1 || s.HeldBytes() != 300*14 {
		t.Fatalf("before retention: first %d, held %d", s.FirstID(), s.HeldBytes())
	}
	for _, first := range []uint64{1, 101, 100, 257} { // 100 after 101: never backwards
		if err := s.DropBefore(first); err != nil {
			t.Fatal(err)
		}
	}
	if s.FirstID() != 257 || s.LastID() != 300 || s.HeldBytes() != 44*14 {
		t.Fatalf("after DropBefore(257): first %d, last %d, held %d", s.FirstID(), s.LastID(), s.HeldBytes())
	}
	got, err := s.Read(nil, 1, 1000, 1<<20)
	if err != nil || len(got) != 44 || got[0] != (frame.Entry{ID: 257, Message: "message-000257"}) {
		t.Fatalf("read from 1: %d entries from %v, %v", len(got), got[:min(1, len(got))], err)
	}
	if id := mustAppend(t, s, "next"); id != 301 {
		t.Fatalf("the next append got id %d, want 301", id)
	}
	if err := s.DropBefore(500); err != nil {
		t.Fatal(err)
	}
	if s.FirstID() != 500 || s.LastID() != 499 || s.HeldBytes() != 0 {
		t.Fatalf("restarted at 500: first %d, last %d, held %d", s.FirstID(), s.LastID(), s.HeldBytes())
	}
	if id := mustAppend(t, s, "after the restart"); id != 500 {
		t.Fatalf("the append after the restart got id %d, want 500", id)
	}
	if got, _ := s.Read(nil, 1, 10, 1<<20); len(got) != 1 || got[0].ID != 500 {
		t.Fatalf("after the restart the log holds %v", got)
	}
}

// Chunks counts the arenas mapped.
func (m *Memory) Chunks() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, c := range m.chunks {
		if c != nil {
			n++
		}
	}
	return n
}

// TestMemoryRetentionUnmapsChunks: the arenas wholly below the first id
// are given back, so the memory held is the window plus at most one chunk.
func TestMemoryRetentionUnmapsChunks(t *testing.T) {
	m := NewMemory("L")
	big := strings.Repeat("x", 64<<10)
	for range 4 * chunkSize / len(big) { // four chunks' worth
		mustAppend(t, m, big)
	}
	if n := m.Chunks(); n < 4 {
		t.Fatalf("%d chunks mapped for four chunks of messages", n)
	}
	if err := m.DropBefore(m.LastID()); err != nil {
		t.Fatal(err)
	}
	if n := m.Chunks(); n != 1 {
		t.Fatalf("%d chunks still mapped with one message held", n)
	}
	if err := m.DropBefore(m.LastID() + 1); err != nil { // empty: the last chunk stays for appends
		t.Fatal(err)
	}
	mustAppend(t, m, "after")
	if got, _ := m.Read(nil, 1, 10, 1<<20); len(got) != 1 || got[0].Message != "after" {
		t.Fatalf("after emptying, the log holds %v", got)
	}
}

func testFitBytes(t *testing.T, s Store) {
	fill(t, s, 100) // 14 bytes each
	for _, c := range []struct {
		max  int64
		want uint64
	}{{1 << 20, 1}, {140, 91}, {145, 91}, {13, 101}, {0, 101}} {
		if got := s.FitBytes(c.max); got != c.want {
			t.Errorf("FitBytes(%d) = %d, want %d", c.max, got, c.want)
		}
	}
	if got := s.AgedBefore(time.Now().Add(-time.Hour)); got != 1 {
		t.Errorf("nothing is an hour old, yet AgedBefore says %d", got)
	}
}

// TestAgeJudgesWholeUnits: AgedBefore drops whole chunks or segments
// whose newest message is older than the cutoff, never the one being
// appended to.
func TestAgeJudgesWholeUnits(t *testing.T) {
	d, err := OpenDisk(t.TempDir(), DiskOptions{NewLogID: "L", SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := NewMemory("L")
	for s, size := range map[Store]int{d: 3000, m: chunkSize/2 + 1} { // one message per unit
		for range 3 {
			mustAppend(t, s, strings.Repeat("x", size))
		}
		if got := s.AgedBefore(time.Now().Add(time.Hour)); got != 3 {
			t.Errorf("%T: everything is old: AgedBefore = %d, want 3 (the unit appended to stays)", s, got)
		}
		if got := s.AgedBefore(time.Now().Add(-time.Hour)); got != 1 {
			t.Errorf("%T: nothing is old: AgedBefore = %d, want 1", s, got)
		}
	}
}
