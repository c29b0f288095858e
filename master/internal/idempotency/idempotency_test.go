package idempotency

import (
	"fmt"
	"testing"
	"time"

	"github.com/replog/replog/shared/store"
)

func TestTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tab := NewTable(time.Minute, 100)
	a, first := tab.Begin("k", store.Digest("m"), t0)
	if !first {
		t.Fatal("a new key was not first")
	}
	b, first := tab.Begin("k", store.Digest("m"), t0.Add(59*time.Second))
	if first || b != a {
		t.Fatal("a repeat within the window was not given the first record")
	}
	c, first := tab.Begin("k", store.Digest("m"), t0.Add(time.Minute))
	if !first || c == a {
		t.Fatal("a key past the window was still remembered")
	}
}

func TestTableForget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tab := NewTable(time.Minute, 100)
	a, _ := tab.Begin("k", 1, t0)
	tab.Forget(a)
	if _, first := tab.Begin("k", 1, t0); !first {
		t.Fatal("a forgotten key was still remembered")
	}
	tab.Forget(a) // a stale record never drops the new one
	if _, first := tab.Begin("k", 1, t0); first {
		t.Fatal("forgetting a stale record dropped the key's new record")
	}
}

func TestTableBoundsCount(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tab := NewTable(time.Hour, 3)
	for i := range 5000 {
		tab.Begin(fmt.Sprint(i), 0, t0)
		if tab.Len() > 3 {
			t.Fatalf("%d keys held, bound 3", tab.Len())
		}
	}
	if _, first := tab.Begin("4999", 0, t0); first {
		t.Fatal("the newest key was evicted")
	}
	if _, first := tab.Begin("0", 0, t0); !first {
		t.Fatal("the oldest key survived the bound")
	}
	if len(tab.order)-tab.head > 10 {
		t.Fatalf("the order list keeps %d records for 3 keys", len(tab.order)-tab.head)
	}
}

func TestTableRestore(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := NewTable(time.Minute, 100)
	tab.Restore("old", 1, 5, now.Add(-2*time.Minute), now)
	tab.Restore("recent", 2, 9, now.Add(-30*time.Second), now)
	if _, first := tab.Begin("old", 1, now); !first {
		t.Fatal("a key older than the window was restored")
	}
	rec, first := tab.Begin("recent", 2, now)
	if first || rec.ID != 9 || rec.Digest != 2 {
		t.Fatalf("restored key: first %v, %+v", first, rec)
	}
	select {
	case <-rec.Assigned:
	default:
		t.Fatal("a restored record is not settled")
	}
}
