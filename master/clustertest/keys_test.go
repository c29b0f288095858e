package clustertest

import (
	"path/filepath"
	"testing"

	"github.com/replog/replog/shared/store"
)

// TestDurableSecondaryKeepsTheMastersKeys: keyed appends reach a
// secondary with DATA_DIR with their keys (docs/FAILOVER.md, invariant 6):
// once both processes stopped, the secondary's log opens with the
// master's keys — the same keys, ids and digests, the time to the
// millisecond a frame carries — so that, promoted, it would answer a
// retried key with the first answer. A repeat appends nothing anywhere.
func TestDurableSecondaryKeepsTheMastersKeys(t *testing.T) {
	mdir, sdir := t.TempDir(), t.TempDir()
	m := startMaster(t, "DATA_DIR="+mdir)
	s := startSecondary(t, "s1", m, "DATA_DIR="+sdir)
	for _, c := range []struct{ body, key string }{
		{`{"message":"pay","writeConcern":2}`, "order-1"},
		{`{"message":"plain","writeConcern":2}`, ""},
		{`{"messages":["a","b","c"],"writeConcern":2}`, "order-2"},
		{`{"messages":["x","y"],"writeConcern":2}`, "order-3"},
		{`{"message":"pay","writeConcern":2}`, "order-1"}, // a repeat
	} {
		var h []string
		if c.key != "" {
			h = []string{"Idempotency-Key", c.key}
		}
		if r := post(t, m, c.body, h...); r.Status != 201 && !(r.Status == 200 && r.Duplicate) {
			t.Fatalf("POST %s (%s): %+v", c.body, c.key, r)
		}
	}
	s.stop()
	m.stop()

	want, got := keysIn(t, mdir), keysIn(t, filepath.Join(sdir, "node-1"))
	if len(want) != 5 {
		t.Fatalf("the master's keys %+v: want 5 keyed records (a single, two batches' firsts and lasts)", want)
	}
	if len(got) != len(want) {
		t.Fatalf("the secondary's keys %+v, want the master's %+v", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Key != w.Key || g.ID != w.ID || g.Digest != w.Digest || g.Time.UnixMilli() != w.Time.UnixMilli() {
			t.Errorf("key %d: the secondary's %+v, the master's %+v", i, g, w)
		}
	}
}

// keysIn opens the durable log in dataDir, as a restarted node does, and
// returns the keys it found.
func keysIn(t *testing.T, dataDir string) []store.KeyRecord {
	t.Helper()
	d, err := store.OpenDisk(dataDir, store.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.Keys()
}
