package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openDisk(t *testing.T, dir string, opts DiskOptions) *Disk {
	t.Helper()
	d, err := OpenDisk(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func fill(t *testing.T, s Store, n int) {
	t.Helper()
	for i := range n {
		mustAppend(t, s, fmt.Sprintf("message-%06d", i+1))
	}
}

func checkLog(t *testing.T, s Store, n int) {
	t.Helper()
	if s.LastID() != uint64(n) {
		t.Fatalf("LastID %d, want %d", s.LastID(), n)
	}
	all, err := s.Read(nil, 1, n+10, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("read %d entries, want %d", len(all), n)
	}
	for i, e := range all {
		if e.ID != uint64(i+1) || e.Message != fmt.Sprintf("message-%06d", i+1) {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
}

func segments(t *testing.T, dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no segments")
	}
	return names
}

func TestDiskReopen(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			opts := DiskOptions{NewLogID: "L", SegmentBytes: 1000, Fsync: policy, FsyncInterval: time.Millisecond}
			d, err := OpenDisk(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, d, 300)
			at := time.Unix(0, 99)
			if _, err := d.Append(Record{Message: "message-000301", Key: "k", Digest: 7, Time: at}); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d = openDisk(t, dir, DiskOptions{NewLogID: "other", SegmentBytes: 1000})
			checkLog(t, d, 301)
			if d.LogID() != "L" {
				t.Fatalf("log id %q after reopen", d.LogID())
			}
			if k := d.Keys(); len(k) != 1 || k[0] != (KeyRecord{Key: "k", ID: 301, Digest: 7, Time: k[0].Time}) || !k[0].Time.Equal(at) {
				t.Fatalf("keys after reopen: %+v", k)
			}
			if id := mustAppend(t, d, "message-000302"); id != 302 {
				t.Fatalf("id after reopen %d", id)
			}
			if r := d.Recovery(); r.Records != 301 || r.Segments < 3 {
				t.Fatalf("recovery %+v", r)
			}
		})
	}
}

func TestDiskTornTail(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, DiskOptions{NewLogID: "L", SegmentBytes: 1000})
	fill(t, d, 100)
	d.Close()
	names := segments(t, dir)
	lastSeg := names[len(names)-1]
	full, _ := os.ReadFile(lastSeg)
	recLen := headerSize + 9 + len("message-000100")
	for cut := len(full) - recLen; cut < len(full); cut++ {
		if err := os.WriteFile(lastSeg, full[:cut], 0o640); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDisk(dir, DiskOptions{SegmentBytes: 1000})
		if err != nil {
			t.Fatalf("cut at %d of %d: %v", cut, len(full), err)
		}
		if d.LastID() != 99 || d.Recovery().TornBytes != int64(cut-(len(full)-recLen)) {
			t.Fatalf("cut at %d: LastID %d, torn %d", cut, d.LastID(), d.Recovery().TornBytes)
		}
		if id := mustAppend(t, d, "message-000100"); id != 100 {
			t.Fatalf("after a torn tail the next id is %d", id)
		}
		checkLog(t, d, 100)
		d.Close()
		os.WriteFile(lastSeg, full, 0o640)
	}
	// A tail of zeros, as a file extended before its data landed leaves.
	os.WriteFile(lastSeg, append(full[:len(full)-recLen], make([]byte, 3*recLen)...), 0o640)
	d2 := openDisk(t, dir, DiskOptions{})
	if d2.LastID() != 99 {
		t.Fatalf("zero tail: LastID %d", d2.LastID())
	}
}

func TestDiskRefusesCorruption(t *testing.T) {
	for _, where := range []string{"first segment", "middle of the last segment"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			d := openDisk(t, dir, DiskOptions{NewLogID: "L", SegmentBytes: 1000})
			fill(t, d, 100)
			d.Close()
			names := segments(t, dir)
			name := names[0]
			if where != "first segment" {
				name = names[len(names)-1]
			}
			b, _ := os.ReadFile(name)
			b[headerSize+12] ^= 0xff // inside the first record's body
			os.WriteFile(name, b, 0o640)
			_, err := OpenDisk(dir, DiskOptions{})
			if err == nil || !strings.Contains(err.Error(), "corrupt log") {
				t.Fatalf("opened a corrupt log: %v", err)
			}
		})
	}
}

func TestDiskGroupCommit(t *testing.T) {
	d := openDisk(t, t.TempDir(), DiskOptions{NewLogID: "L"})
	var writes sync.Map
	var n int64
	var mu sync.Mutex
	writeHook = func() error { mu.Lock(); n++; mu.Unlock(); return nil }
	defer func() { writeHook = nil }()
	var wg sync.WaitGroup
	ids := make(chan uint64, 64*20)
	for w := range 64 {
		wg.Go(func() {
			for i := range 20 {
				id, err := d.Append(Record{Message: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					t.Error(err)
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if _, dup := writes.LoadOrStore(id, true); dup {
			t.Fatalf("id %d given twice", id)
		}
	}
	if d.LastID() != 1280 {
		t.Fatalf("LastID %d", d.LastID())
	}
	t.Logf("1280 appends from 64 writers took %d writes+fsyncs", n)
	if n >= 1280 {
		t.Fatalf("no group commit: %d fsyncs for 1280 appends", n)
	}
}

func TestDiskFullFailsCleanlyAndRecovers(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, DiskOptions{NewLogID: "L"})
	fill(t, d, 10)
	writeHook = func() error { return syscall.ENOSPC }
	_, err := d.Append(Record{Message: "lost"})
	writeHook = nil
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if d.LastID() != 10 {
		t.Fatalf("a failed append moved LastID to %d", d.LastID())
	}
	if id := mustAppend(t, d, "message-000011"); id != 11 {
		t.Fatalf("after space came back the id is %d", id)
	}
	d.Close()
	checkLog(t, openDisk(t, dir, DiskOptions{}), 11)
}

func TestDiskResetMovesDataAside(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, DiskOptions{})
	if d.LogID() != "" {
		t.Fatalf("a new secondary log has id %q", d.LogID())
	}
	if err := d.Reset("A"); err != nil {
		t.Fatal(err)
	}
	fill(t, d, 5)
	if err := d.Reset("B"); err != nil {
		t.Fatal(err)
	}
	if d.LastID() != 0 || d.LogID() != "B" {
		t.Fatalf("after reset: %d %q", d.LastID(), d.LogID())
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "log.A.*", "*.seg"))
	if len(aside) == 0 {
		t.Fatal("the old log was not moved aside")
	}
	fill(t, d, 3)
	d.Close()
	d2 := openDisk(t, dir, DiskOptions{})
	checkLog(t, d2, 3)
	if d2.LogID() != "B" {
		t.Fatalf("log id %q", d2.LogID())
	}
}

func TestDiskIsLocked(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir, DiskOptions{})
	if _, err := OpenDisk(dir, DiskOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second open: %v", err)
	}
}

func TestDiskLargeLog(t *testing.T) {
	if testing.Short() {
		t.Skip("large log in -short mode")
	}
	dir := t.TempDir()
	d := openDisk(t, dir, DiskOptions{NewLogID: "L", Fsync: FsyncNever, SegmentBytes: 4 << 20})
	const n = 200000
	batch := make([]Record, 1000)
	for i := 0; i < n; i += len(batch) {
		for j := range batch {
			batch[j] = Record{Message: fmt.Sprintf("message-%06d", i+j+1)}
		}
		if _, err := d.Append(batch...); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	start := time.Now()
	d = openDisk(t, dir, DiskOptions{})
	t.Logf("reopened %d records in %s (%+v)", n, time.Since(start), d.Recovery())
	checkLog(t, d, n)
	for _, from := range []uint64{1, 63, 64, 65, 12345, n - 1, n} {
		got, _ := d.Read(nil, from, 3, 1<<20)
		if len(got) == 0 || got[0].ID != from || got[0].Message != fmt.Sprintf("message-%06d", from) {
			t.Fatalf("Read(%d) = %v", from, got)
		}
	}
}

// TestDiskRetentionSurvivesRestart: segments wholly below the first id are
// deleted from disk; a reopened log keeps the first id, the last id and
// every held message, and only the idempotency keys of held records.
func TestDiskRetentionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	opts := DiskOptions{NewLogID: "L", SegmentBytes: 1000}
	d, err := OpenDisk(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Append(Record{Message: "keyed", Key: "old", Digest: 1, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	fill(t, d, 299)
	if _, err := d.Append(Record{Message: "keyed", Key: "new", Digest: 2, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before := len(segments(t, dir))
	if err := d.DropBefore(250); err != nil {
		t.Fatal(err)
	}
	after := segments(t, dir)
	if len(after) >= before {
		t.Fatalf("%d segments before retention, %d after", before, len(after))
	}
	var first uint64
	fmt.Sscanf(filepath.Base(after[0]), "%020d.seg", &first)
	if first > 250 {
		t.Fatalf("the oldest segment kept starts at %d, past the first id 250", first)
	}
	held := d.HeldBytes()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDisk(t, dir, opts)
	if d.FirstID() != 250 || d.LastID() != 301 || d.HeldBytes() != held {
		t.Fatalf("reopened: first %d, last %d, held %d (was %d)", d.FirstID(), d.LastID(), d.HeldBytes(), held)
	}
	got, err := d.Read(nil, 1, 1000, 1<<20)
	if err != nil || len(got) != 52 || got[0].ID != 250 {
		t.Fatalf("reopened, read from 1: %d entries, first %v, %v", len(got), got[:min(1, len(got))], err)
	}
	if keys := d.Keys(); len(keys) != 1 || keys[0].Key != "new" {
		t.Fatalf("keys after reopening: %+v, want only the held record's", keys)
	}

	// Restarted past the end (a secondary that fell behind the window).
	if err := d.DropBefore(1000); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Append(Record{Message: "m1000"}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = openDisk(t, dir, opts)
	if d.FirstID() != 1000 || d.LastID() != 1000 {
		t.Fatalf("reopened after a restart at 1000: first %d, last %d", d.FirstID(), d.LastID())
	}
}

// TestDiskRetentionHoldsNoLockAcrossIO: while DropBefore writes meta.json
// (two fsyncs and a rename) appends and reads go on; while Reset does,
// reads go on. Each is held in its meta write until the others are done.
func TestDiskRetentionHoldsNoLockAcrossIO(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(d *Disk) error
		others func(d *Disk) error
	}{
		{"DropBefore", func(d *Disk) error { return d.DropBefore(150) }, func(d *Disk) error {
			if _, err := d.Append(Record{Message: "during"}); err != nil {
				return err
			}
			_, err := d.Read(nil, 1, 10, 1<<20)
			return err
		}},
		{"Reset", func(d *Disk) error { return d.Reset("log-b") }, func(d *Disk) error {
			_, err := d.Read(nil, 1, 10, 1<<20)
			d.LastID()
			d.HeldBytes()
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := openDisk(t, t.TempDir(), DiskOptions{NewLogID: "L", SegmentBytes: 1000})
			fill(t, d, 300)
			entered, release := make(chan struct{}), make(chan struct{})
			metaHook = func() {
				close(entered)
				<-release
			}
			defer func() { metaHook = nil }()
			changed := make(chan error, 1)
			go func() { changed <- c.change(d) }()
			select {
			case <-entered:
			case err := <-changed:
				t.Fatalf("%s wrote no meta.json: %v", c.name, err)
			}
			metaHook = nil
			others := make(chan error, 1)
			go func() { others <- c.others(d) }()
			var err error
			select {
			case err = <-others:
			case <-time.After(10 * time.Second):
				t.Errorf("appends and reads wait for %s's meta.json write", c.name)
				close(release)
				err = <-others
				release = nil
			}
			if err != nil {
				t.Errorf("beside %s: %v", c.name, err)
			}
			if release != nil {
				close(release)
			}
			if err := <-changed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDiskRetentionCountsText: the message text retention counts from
// the segments' indexed counts (HeldBytes, FitBytes, DropBefore) is what
// reading the log finds, at every kind of boundary, while appends go on,
// and after a reopen.
func TestDiskRetentionCountsText(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	opts := DiskOptions{NewLogID: "L", SegmentBytes: 3000, TailEntries: 16}
	d := openDisk(t, dir, opts)
	appendSome := func(n int) {
		for range n {
			mustAppend(t, d, strings.Repeat("x", rng.IntN(120))) // some empty
		}
	}
	// held reads the log to count what it holds from first on.
	held := func(from uint64) (sum int64) {
		es, err := d.Read(nil, from, 1<<30, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			sum += int64(len(e.Message))
		}
		return sum
	}
	// fit is FitBytes by reading: the first id from which what follows fits.
	fit := func(limit int64) uint64 {
		id, h := d.FirstID(), held(d.FirstID())
		es, _ := d.Read(nil, id, 1<<30, 1<<30)
		for _, e := range es {
			if h <= limit {
				return e.ID
			}
			h -= int64(len(e.Message))
			id = e.ID + 1
		}
		return id
	}
	appendSome(2000)
	for sweep := range 30 {
		total := held(d.FirstID())
		if d.HeldBytes() != total {
			t.Fatalf("sweep %d: HeldBytes %d, the log holds %d", sweep, d.HeldBytes(), total)
		}
		for _, limit := range []int64{0, 1, total / 3, total - 1, total, total + 1, rng.Int64N(total + 1)} {
			if got, want := d.FitBytes(limit), fit(limit); got != want {
				t.Fatalf("sweep %d: FitBytes(%d) = %d, want %d", sweep, limit, got, want)
			}
		}
		id := d.FirstID() + uint64(rng.IntN(int(d.LastID()-d.FirstID())/4+1))
		if sweep%5 == 0 {
			id = d.FitBytes(total * 3 / 4) // also a drop at a segment's start, sometimes
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 50 {
				if _, err := d.Append(Record{Message: fmt.Sprintf("during-%d", i)}); err != nil {
					t.Error(err)
				}
			}
		})
		if err := d.DropBefore(id); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if d.FirstID() != id {
			t.Fatalf("sweep %d: first %d after DropBefore(%d)", sweep, d.FirstID(), id)
		}
		appendSome(rng.IntN(200))
	}
	want := d.HeldBytes()
	if want != held(d.FirstID()) {
		t.Fatalf("HeldBytes %d, the log holds %d", want, held(d.FirstID()))
	}
	first, last := d.FirstID(), d.LastID()
	d.Close()
	d = openDisk(t, dir, opts)
	if d.FirstID() != first || d.LastID() != last || d.HeldBytes() != want || held(first) != want {
		t.Fatalf("reopened: first %d, last %d, held %d (reads %d); was %d, %d, %d",
			d.FirstID(), d.LastID(), d.HeldBytes(), held(first), first, last, want)
	}
}

// TestDiskDropAtASegmentStartedMeanwhile: DropBefore(LastID+1) while an
// append starts a new segment at that very id keeps that segment whole.
func TestDiskDropAtASegmentStartedMeanwhile(t *testing.T) {
	d := openDisk(t, t.TempDir(), DiskOptions{NewLogID: "L", SegmentBytes: 1000})
	fill(t, d, 10)
	big := strings.Repeat("x", 2000) // past the segment's room: a new segment at id 11
	metaHook = func() {
		if _, err := d.Append(Record{Message: big}); err != nil {
			t.Error(err)
		}
	}
	defer func() { metaHook = nil }()
	if err := d.DropBefore(11); err != nil {
		t.Fatal(err)
	}
	if d.FirstID() != 11 || d.LastID() != 11 || d.HeldBytes() != int64(len(big)) {
		t.Fatalf("first %d, last %d, held %d; want 11, 11, %d", d.FirstID(), d.LastID(), d.HeldBytes(), len(big))
	}
}
