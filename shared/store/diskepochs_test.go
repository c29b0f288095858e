package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
)

// rollbackLines is what a rollback file of ids from..to of a log written
// by appendEpochs holds, spelled out rather than encoded.
func rollbackLines(from, to uint64, spans epoch.History) string {
	var b strings.Builder
	for id := from; id <= to; id++ {
		fmt.Fprintf(&b, `{"id":%d,"epoch":%d,"message":"message-%06d"`, id, spans.Of(id), id)
		if id%10 == 0 {
			fmt.Fprintf(&b, `,"key":"key-%d"`, id)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// rollbackFiles maps each file of dir/rollback to its contents, and
// fails on anything else there (a temp file left behind).
func rollbackFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	names, _ := filepath.Glob(filepath.Join(dir, rollbackDir, "*"))
	for _, name := range names {
		if !strings.HasSuffix(name, ".jsonl") {
			t.Fatalf("%s left in the rollback directory", name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join(rollbackDir, filepath.Base(name))] = string(b)
	}
	return files
}

// checkHeldKeys fails unless d's keys are exactly those appendEpochs wrote
// for first..last.
func checkHeldKeys(t *testing.T, d *Disk, first, last uint64) {
	t.Helper()
	var want []uint64
	for id := (first + 9) / 10 * 10; id <= last; id += 10 {
		want = append(want, id)
	}
	var got []uint64
	for _, k := range d.Keys() {
		if k.Key != fmt.Sprintf("key-%d", k.ID) {
			t.Fatalf("key %+v", k)
		}
		got = append(got, k.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys of ids %v, want %v", got, want)
	}
}

var smallSegments = DiskOptions{NewLogID: "L", SegmentBytes: 1000, TailEntries: 16}

// TestDiskEpochsSurviveReopen: the records' epochs, the history and the
// promise are what a reopened log finds.
func TestDiskEpochsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, smallSegments)
	appendEpochs(t, d, 1, 250, fourEpochs)
	h := append(slices.Clone(fourEpochs), epoch.Start{Epoch: 301, FirstID: 251})
	p := Promise{Promise: election.Promise{Epoch: 301, To: "m1"}}
	if err := d.SetHistory(h); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPromise(p); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for _, f := range []string{filepath.Join(dir, "log", historyFile), filepath.Join(dir, promiseFile)} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	d = openDisk(t, dir, smallSegments)
	checkEpochs(t, d, 1, 250, fourEpochs)
	if got := d.History(); !slices.Equal(got, h) {
		t.Fatalf("history after reopen %v, want %v", got, h)
	}
	if d.Promise() != p {
		t.Fatalf("promise after reopen %+v, want %+v", d.Promise(), p)
	}
	checkHeldKeys(t, d, 1, 250)
}

// TestDiskRollBack cuts a log of 1000-byte segments at every kind of
// place — inside a segment, just before and just after a segment's
// start, in the last segment, everything — and checks the rollback file
// byte for byte, the log, its keys and its history, before and after a
// reopen.
func TestDiskRollBack(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, smallSegments)
	appendEpochs(t, d, 1, 300, fourEpochs)
	var starts []uint64 // segment starts after the first
	for _, name := range segments(t, dir)[1:] {
		var first uint64
		fmt.Sscanf(filepath.Base(name), "%020d.seg", &first)
		starts = append(starts, first)
	}
	d.Close()
	if len(starts) < 5 {
		t.Fatalf("only %d segments", len(starts)+1)
	}
	for _, keep := range []uint64{starts[1] + 7, starts[2] - 1, starts[2], 299, starts[len(starts)-1] - 1, 0} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			dir := t.TempDir()
			d := openDisk(t, dir, smallSegments)
			appendEpochs(t, d, 1, 300, fourEpochs)
			if err := d.SetHistory(fourEpochs); err != nil {
				t.Fatal(err)
			}
			rb, err := d.RollBackAfter(keep, 301)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(rollbackDir, fmt.Sprintf("301-%d-300.jsonl", keep+1))
			if rb.File != want || rb.From != keep+1 || rb.To != 300 {
				t.Fatalf("rollback %+v, want ids %d..300 to %s", rb, keep+1, want)
			}
			check := func(reopened bool) {
				t.Helper()
				if files := rollbackFiles(t, dir); len(files) != 1 || files[want] != rollbackLines(keep+1, 300, fourEpochs) {
					t.Fatalf("rollback files %v, want %s with ids %d..300", files, want, keep+1)
				}
				checkEpochs(t, d, 1, keep, fourEpochs)
				if reopened { // Keys are what an open found
					checkHeldKeys(t, d, 1, keep)
				}
				if h := d.History(); !slices.Equal(h, epoch.Adopt(fourEpochs, keep)) {
					t.Fatalf("history %v", h)
				}
			}
			check(false)
			mid := min(keep+3, 300)
			appendEpochs(t, d, keep+1, mid, fourEpochs)
			d.Close()
			d = openDisk(t, dir, smallSegments)
			appendEpochs(t, d, mid+1, 300, fourEpochs) // the log goes on where it was cut
			checkEpochs(t, d, 1, 300, fourEpochs)
			d.Close()
			d = openDisk(t, dir, smallSegments)
			checkEpochs(t, d, 1, 300, fourEpochs)
			if _, err := d.RollBackAfter(keep, 301); err != nil {
				t.Fatal(err)
			}
			checkHeldKeys(t, d, 1, keep) // the keys the open found leave with their entries
			d.Close()
			d = openDisk(t, dir, smallSegments)
			check(true)
		})
	}
}

// TestDiskRollBackCompletesAfterACrash stops a rollback before each of
// its steps, as a crash would, then reopens the log: whatever the step,
// the open leaves either nothing rolled back (the crash came before the
// rollback began) or the rollback done — the entries after keep in
// exactly one rollback file, exactly once, the log cut there, its keys
// and history agreeing with it — and a second rollback to the same id
// by a later leader moves nothing.
func TestDiskRollBackCompletesAfterACrash(t *testing.T) {
	errCrash := errors.New("crash")
	saved := append(slices.Clone(fourEpochs), epoch.Start{Epoch: 302, FirstID: 301})
	for _, step := range []string{"intent", "file", "cut", "truncate", "history", "done"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			d, err := OpenDisk(dir, smallSegments)
			if err != nil {
				t.Fatal(err)
			}
			appendEpochs(t, d, 1, 300, fourEpochs)
			if err := d.SetHistory(saved); err != nil {
				t.Fatal(err)
			}
			const keep = 150 // inside a segment: the cut deletes some and truncates one
			rollbackHook = func(s string) error {
				if s == step {
					return errCrash
				}
				return nil
			}
			_, err = d.RollBackAfter(keep, 301)
			rollbackHook = nil
			if !errors.Is(err, errCrash) {
				t.Fatalf("rollback stopped before %s: %v", step, err)
			}
			if _, err := d.Append(Record{Message: "message-000301", Epoch: 302}); (err == nil) != (step == "intent") {
				t.Fatalf("append after a rollback stopped before %s: %v", step, err)
			}
			d.Close()
			// A crash also leaves the temp file of a rollback file behind.
			os.MkdirAll(filepath.Join(dir, rollbackDir), 0o750)
			os.WriteFile(filepath.Join(dir, rollbackDir, rollbackTemp+"123"), []byte(`{"id":1`), 0o640)

			d = openDisk(t, dir, smallSegments)
			if step == "intent" {
				if files := rollbackFiles(t, dir); len(files) != 0 {
					t.Fatalf("a rollback that never began wrote %v", files)
				}
				checkEpochs(t, d, 1, 301, saved)
				return
			}
			want := filepath.Join(rollbackDir, "301-151-300.jsonl")
			check := func() {
				t.Helper()
				if files := rollbackFiles(t, dir); len(files) != 1 || files[want] != rollbackLines(keep+1, 300, fourEpochs) {
					t.Fatalf("rollback files %v, want %s with ids 151..300", files, want)
				}
				checkEpochs(t, d, 1, keep, fourEpochs)
				checkHeldKeys(t, d, 1, keep)
				if h := d.History(); !slices.Equal(h, fourEpochs[:2]) {
					t.Fatalf("history %v, want %v", h, fourEpochs[:2])
				}
				if _, err := os.Stat(filepath.Join(dir, "log", cutFile)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the rollback's intent is still there: %v", err)
				}
			}
			check()
			if rb, err := d.RollBackAfter(keep, 305); err != nil || rb.Count() != 0 {
				t.Fatalf("a later leader's rollback to the same id: %+v, %v", rb, err)
			}
			d.Close()
			d = openDisk(t, dir, smallSegments)
			check()
		})
	}
}

// TestDiskOpensTodaysDataDir: a data directory written by the release
// before epochs (testdata/v1: 12 records in two segments, keys on 4, 8
// and 12) opens as epoch 1 — every record, the history [(1, 1)], the
// promise {1, ""} — and a master without failover goes on writing it
// exactly as before: no epochs.json, no promise.json, the old segments'
// bytes untouched.
func TestDiskOpensTodaysDataDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "log"), 0o750)
	golden, _ := filepath.Glob("testdata/v1/log/*")
	for _, name := range golden {
		b, _ := os.ReadFile(name)
		os.WriteFile(filepath.Join(dir, "log", filepath.Base(name)), b, 0o640)
	}
	d := openDisk(t, dir, DiskOptions{SegmentBytes: 200})
	if d.LogID() != "golden" || d.LastID() != 12 {
		t.Fatalf("log %q holds up to %d", d.LogID(), d.LastID())
	}
	for id := uint64(1); id <= 12; id++ {
		if e := d.EpochOf(id); e != 1 {
			t.Fatalf("id %d of today's log is of epoch %d", id, e)
		}
	}
	if h := d.History(); !slices.Equal(h, epoch.History{{Epoch: 1, FirstID: 1}}) {
		t.Fatalf("history %v, want [(1, 1)]", h)
	}
	if p := d.Promise(); p != (Promise{Promise: election.Promise{Epoch: 1}}) {
		t.Fatalf("promise %+v, want {1, \"\"}", p)
	}
	if k := d.Keys(); len(k) != 3 || k[2].ID != 12 || k[2].Key != "key-12" {
		t.Fatalf("keys %+v", k)
	}
	if _, err := d.Append(Record{Message: "m13"}, Record{Message: "m14", Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = openDisk(t, dir, DiskOptions{SegmentBytes: 200})
	if d.LastID() != 14 || d.EpochOf(14) != 1 {
		t.Fatalf("after appending: last %d of epoch %d", d.LastID(), d.EpochOf(14))
	}
	for _, f := range []string{filepath.Join(dir, "log", historyFile), filepath.Join(dir, promiseFile)} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a log without failover wrote %s (%v)", f, err)
		}
	}
	for _, name := range golden {
		want, _ := os.ReadFile(name)
		got, _ := os.ReadFile(filepath.Join(dir, "log", filepath.Base(name)))
		if n := len(want); filepath.Ext(name) == ".seg" && (len(got) < n || !bytes.Equal(got[:n], want)) {
			t.Fatalf("%s changed", filepath.Base(name))
		}
	}
}

// TestDiskChecksHistoryOnOpen: an open repairs a history that a crash
// left behind or ahead of its log, and refuses, with an operator hint,
// one that gives held records another epoch.
func TestDiskChecksHistoryOnOpen(t *testing.T) {
	three := epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 3, FirstID: 11}}
	for _, c := range []struct {
		name    string
		records epoch.History // the epochs of records 1..last
		last    uint64
		saved   string // epochs.json; empty: none
		want    string // the history opened, or the error
		written bool   // whether the open (re)writes epochs.json
	}{
		{"empty, none saved", nil, 0, "", "[]", false},
		{"today's log", nil, 20, "", "[{1 1}]", false},
		{"saved as the log is", three, 20, `[{"epoch":1,"firstId":1},{"epoch":3,"firstId":11}]`, "[{1 1} {3 11}]", false},
		{"a start at the next id", three, 20, `[{"epoch":1,"firstId":1},{"epoch":3,"firstId":11},{"epoch":4,"firstId":21}]`, "[{1 1} {3 11} {4 21}]", false},
		{"a start beyond the log: a crash after a rollback's cut", three, 20,
			`[{"epoch":1,"firstId":1},{"epoch":3,"firstId":11},{"epoch":4,"firstId":22}]`, "[{1 1} {3 11}]", true},
		{"records of a new epoch: a crash before their start was saved", three, 20, `[{"epoch":1,"firstId":1}]`, "[{1 1} {3 11}]", true},
		{"records of a new epoch, none saved", three, 20, "", "[{1 1} {3 11}]", true},
		{"a follower's first entries, none saved", epoch.History{{Epoch: 3, FirstID: 1}}, 20, "", "[{1 1} {3 1}]", true},
		{"records of a new epoch after an empty one", three, 20, `[{"epoch":1,"firstId":1},{"epoch":2,"firstId":11}]`, "[{1 1} {2 11} {3 11}]", true},
		{"records of an epoch the history passed", three, 20, `[{"epoch":1,"firstId":1},{"epoch":4,"firstId":11}]`, "ids 11..20 are of epoch 3", false},
		{"a start inside a run", three, 20, `[{"epoch":1,"firstId":1},{"epoch":3,"firstId":11},{"epoch":4,"firstId":15}]`, "ids 11..20 are of epoch 3", false},
		{"records of an older epoch", nil, 20, `[{"epoch":1,"firstId":1},{"epoch":3,"firstId":11}]`, "ids 1..20 are of epoch 1", false},
		{"out of order", nil, 20, `[{"epoch":3,"firstId":1},{"epoch":1,"firstId":1}]`, "out of order", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			d := openDisk(t, dir, smallSegments)
			appendEpochs(t, d, 1, c.last, c.records)
			d.Close()
			hist := filepath.Join(dir, "log", historyFile)
			if c.saved != "" {
				os.WriteFile(hist, []byte(c.saved), 0o640)
			}
			d, err := OpenDisk(dir, smallSegments)
			if err != nil {
				if !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrHistoryMismatch) ||
					!strings.Contains(err.Error(), "corrupt log") || !strings.Contains(err.Error(), "restore the data directory") {
					t.Fatalf("open: %v; want an error saying %q with the operator's hint", err, c.want)
				}
				return
			}
			defer d.Close()
			if got := fmt.Sprint(d.History()); got != c.want {
				t.Fatalf("history %s, want %s", got, c.want)
			}
			b, err := os.ReadFile(hist)
			if c.written {
				var onDisk epoch.History
				if err := json.Unmarshal(b, &onDisk); err != nil || fmt.Sprint(onDisk) != c.want {
					t.Fatalf("epochs.json holds %s (%v), want %s", b, err, c.want)
				}
			} else if string(b) != c.saved {
				t.Fatalf("epochs.json holds %q (%v), want %q", b, err, c.saved)
			}
		})
	}
}

// TestDiskRollBackBesideAppendsAndReads: a rollback while readers read
// and an appender appends: every id the log holds after keep is the one
// the appender was last given for it (an append that was rolled back is
// replaced, never mixed), and the race detector finds nothing.
func TestDiskRollBackBesideAppendsAndReads(t *testing.T) {
	d := openDisk(t, t.TempDir(), smallSegments)
	appendEpochs(t, d, 1, 200, fourEpochs)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d.Read(nil, 100, 200, 1<<20) // may fail for ids being cut
				d.EpochOf(180)
				d.History()
			}
		})
	}
	given := map[uint64]string{}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf("appended-%d", i)
			if id, err := d.Append(Record{Message: msg, Epoch: 300}); err == nil {
				given[id] = msg
			}
		}
	})
	const keep = 150
	checkFor(t, 5*time.Second, func() error {
		if d.LastID() < 260 {
			return fmt.Errorf("the appender is at %d", d.LastID())
		}
		return nil
	})
	rb, err := d.RollBackAfter(keep, 301)
	if err != nil || rb.From != keep+1 || rb.To < 260 {
		t.Fatalf("rollback: %+v, %v", rb, err)
	}
	checkFor(t, 5*time.Second, func() error {
		if d.LastID() < 200 {
			return fmt.Errorf("after the rollback the appender is at %d", d.LastID())
		}
		return nil
	})
	close(stop)
	wg.Wait()
	all, err := d.Read(nil, 1, 1<<20, 1<<30)
	if err != nil || uint64(len(all)) != d.LastID() {
		t.Fatalf("read %d entries of %d: %v", len(all), d.LastID(), err)
	}
	for _, e := range all {
		want := fmt.Sprintf("message-%06d", e.ID)
		if e.ID > keep {
			want = given[e.ID]
		}
		if e.Message != want {
			t.Fatalf("id %d holds %q, want %q", e.ID, e.Message, want)
		}
	}
}

// checkFor polls f until it returns nil, failing with its last error
// after timeout.
func checkFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}
