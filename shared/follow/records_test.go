package follow

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/store"
)

// TestRecordsOfEntries: a follower stores an entry's epoch, and a keyed
// append's key, time and the digest the master stored for it: a single
// message's, or, on a batch's first and last entries, the batch's.
func TestRecordsOfEntries(t *testing.T) {
	const at = 1764756000123
	tm := time.UnixMilli(at)
	e := func(id uint64, msg, key string, at int64) frame.Entry {
		return frame.Entry{ID: id, Epoch: 2, Message: msg, Key: key, At: at}
	}
	for _, c := range []struct {
		name    string
		entries []frame.Entry
		want    []store.Record
	}{
		{"unkeyed", []frame.Entry{e(1, "a", "", 0)}, []store.Record{{Message: "a", Epoch: 2}}},
		{"single", []frame.Entry{e(1, "a", "k", at), e(2, "b", "", 0)}, []store.Record{
			{Message: "a", Epoch: 2, Key: "k", Time: tm, Digest: store.Digest("a")}, {Message: "b", Epoch: 2}}},
		{"batch", []frame.Entry{e(1, "x", "", 0), e(2, "a", "k", at), e(3, "b", "", 0), e(4, "c", "k", at)}, []store.Record{
			{Message: "x", Epoch: 2},
			{Message: "a", Epoch: 2, Key: "k", Time: tm, Digest: store.DigestBatch([]string{"a", "b", "c"})},
			{Message: "b", Epoch: 2},
			{Message: "c", Epoch: 2, Key: "k", Time: tm, Digest: store.DigestBatch([]string{"a", "b", "c"})}}},
		{"batch of two beside singles", []frame.Entry{e(1, "s", "j", at), e(2, "a", "k", at), e(3, "b", "k", at), e(4, "t", "l", at+1)}, []store.Record{
			{Message: "s", Epoch: 2, Key: "j", Time: tm, Digest: store.Digest("s")},
			{Message: "a", Epoch: 2, Key: "k", Time: tm, Digest: store.DigestBatch([]string{"a", "b"})},
			{Message: "b", Epoch: 2, Key: "k", Time: tm, Digest: store.DigestBatch([]string{"a", "b"})},
			{Message: "t", Epoch: 2, Key: "l", Time: time.UnixMilli(at + 1), Digest: store.Digest("t")}}},
		{"the same key at another time is another append", []frame.Entry{e(1, "a", "k", at), e(2, "b", "k", at+1)}, []store.Record{
			{Message: "a", Epoch: 2, Key: "k", Time: tm, Digest: store.Digest("a")},
			{Message: "b", Epoch: 2, Key: "k", Time: time.UnixMilli(at + 1), Digest: store.Digest("b")}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := records(c.entries)
			if len(got) != len(c.want) {
				t.Fatalf("%d records, want %d", len(got), len(c.want))
			}
			for i := range got {
				if g, w := got[i], c.want[i]; g.Message != w.Message || g.Epoch != w.Epoch || g.Key != w.Key || g.Digest != w.Digest || !g.Time.Equal(w.Time) {
					t.Errorf("record %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestDurableFollowerKeepsTheMastersKeys: a follower with a durable log
// stores the keyed appends it receives so that, reopened, its Keys are
// the master's — the same keys, ids and digests, the time to the
// millisecond a frame carries: what lets a promoted standby answer a
// retried key with the first answer (docs/FAILOVER.md, invariant 6).
func TestDurableFollowerKeepsTheMastersKeys(t *testing.T) {
	mdir, sdir := t.TempDir(), t.TempDir()
	master, err := store.OpenDisk(mdir, store.DiskOptions{NewLogID: "L"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	keyed := func(msg, key string, d uint64) store.Record {
		return store.Record{Message: msg, Key: key, Digest: d, Time: now}
	}
	// As the master's API appends: a single keyed message, a plain one,
	// a keyed batch (its first and last keyed), another single.
	batch := store.DigestBatch([]string{"a", "b", "c"})
	for _, recs := range [][]store.Record{
		{keyed("pay", "order-1", store.Digest("pay"))},
		{{Message: "plain"}},
		{keyed("a", "order-2", batch), {Message: "b"}, keyed("c", "order-2", batch)},
		{keyed("refund", "order-3", store.Digest("refund"))},
	} {
		if _, err := master.Append(recs...); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := master.Read(nil, 1, 100, 1<<20)
	if err != nil || len(entries) != 6 {
		t.Fatalf("master's log: %v, %v", entries, err)
	}

	follower, err := store.OpenDisk(sdir, store.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fm := frametest.Listen(t)
	c := New(Config{URLs: []string{fm.URL}, Name: "s1", Store: follower, Log: zaptest.NewLogger(t),
		Options: Options{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	conn, _ := fm.Accept()
	conn.Send(welcome("L", 1))
	conn.Send(frame.Frame{Type: frame.TypeAppend, Entries: entries[:2]})
	conn.Send(frame.Frame{Type: frame.TypeAppend, Entries: entries[2:]})
	conn.ExpectAck(2)
	conn.ExpectAck(6)
	fm.Close()
	cancel()
	<-done
	if err := follower.Close(); err != nil {
		t.Fatal(err)
	}
	if err := master.Close(); err != nil {
		t.Fatal(err)
	}

	want := reopenKeys(t, mdir)
	got := reopenKeys(t, sdir)
	if len(want) != 4 {
		t.Fatalf("the master's keys %+v: want 4 records of keys", want)
	}
	if len(got) != len(want) {
		t.Fatalf("the follower's keys %+v, want the master's %+v", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Key != w.Key || g.ID != w.ID || g.Digest != w.Digest || g.Time.UnixMilli() != w.Time.UnixMilli() {
			t.Errorf("key %d: the follower's %+v, the master's %+v", i, g, w)
		}
	}
}

// reopenKeys opens the durable log in dir and returns its Keys.
func reopenKeys(t *testing.T, dir string) []store.KeyRecord {
	t.Helper()
	d, err := store.OpenDisk(dir, store.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.Keys()
}
