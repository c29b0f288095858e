package idempotency

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestTableWindowAndMaxKeys: under any sequence of keys, forgets and
// passing time, the table holds at most max keys; a key begun less than
// the window ago, with fewer than max keys begun after it, is still
// remembered (the same record, not first); one begun a window ago or
// more is not.
func TestTableWindowAndMaxKeys(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		window := time.Duration(rapid.IntRange(1, 50).Draw(t, "window")) * time.Second
		max := rapid.IntRange(1, 8).Draw(t, "max")
		tb := NewTable(window, max)
		now := time.Unix(1000, 0)
		type begun struct {
			rec *Record
			at  time.Time
			seq int // keys begun before it, in all
		}
		live := map[string]begun{}
		seq := 0
		keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		t.Repeat(map[string]func(*rapid.T){
			"begin": func(t *rapid.T) {
				key := rapid.SampledFrom(keys).Draw(t, "key")
				rec, first := tb.Begin(key, 7, now)
				b, seen := live[key]
				newer := seq - b.seq - 1 // keys begun since
				switch {
				case seen && now.Sub(b.at) < window && newer < max-1 && (first || rec != b.rec):
					t.Fatalf("%q begun %s ago with %d newer keys was forgotten", key, now.Sub(b.at), newer)
				case seen && now.Sub(b.at) >= window && !first:
					t.Fatalf("%q begun %s ago (window %s) is still remembered", key, now.Sub(b.at), window)
				case !seen && !first:
					t.Fatalf("%q, never begun or forgotten, is remembered", key)
				}
				if first {
					live[key] = begun{rec: rec, at: now, seq: seq}
					seq++
				}
				if tb.Len() > max {
					t.Fatalf("%d keys held, at most %d", tb.Len(), max)
				}
			},
			"forget": func(t *rapid.T) {
				key := rapid.SampledFrom(keys).Draw(t, "key")
				if b, ok := live[key]; ok {
					tb.Forget(b.rec)
					delete(live, key)
				}
			},
			"time": func(t *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(0, 20).Draw(t, "s")) * time.Second)
			},
		})
	})
}
