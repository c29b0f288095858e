package apply

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/replog/replog/shared/frame"
)

// TestApplierYieldsTheGapFreePrefix: whatever frames arrive — runs of any
// ids, duplicates, gaps, resends after nacks, rejections — the entries
// applied are exactly 1..Last, in order, each once, with the master's
// messages; and with room to hold everything back, Last is the longest
// prefix delivered.
func TestApplierYieldsTheGapFreePrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const n = 60
		maxPending := rapid.IntRange(1, 2*n).Draw(t, "maxPending")
		a := New(0, maxPending)
		var applied []frame.Entry
		delivered := map[uint64]bool{}
		msg := func(id uint64) string { return fmt.Sprintf("m%d", id) }
		t.Repeat(map[string]func(*rapid.T){
			"frame": func(t *rapid.T) {
				from := rapid.Uint64Range(1, n).Draw(t, "from")
				count := rapid.Uint64Range(1, 10).Draw(t, "count")
				var es []frame.Entry
				for id := from; id < from+count && id <= n; id++ {
					es = append(es, frame.Entry{ID: id, Message: msg(id)})
				}
				r := a.Receive(es)
				for _, e := range es {
					delivered[e.ID] = true
				}
				applied = append(applied, r.Apply...)
				if r.Nack != 0 && r.Nack != a.Last()+1 {
					t.Fatalf("nack from %d, the first missing id is %d", r.Nack, a.Last()+1)
				}
			},
			"reject": func(t *rapid.T) {
				if got := a.Reject(); got != a.Last()+1 {
					t.Fatalf("Reject asks from %d, the first id not applied is %d", got, a.Last()+1)
				}
			},
			"": func(t *rapid.T) {
				if uint64(len(applied)) != a.Last() {
					t.Fatalf("%d entries applied, Last %d", len(applied), a.Last())
				}
				for i, e := range applied {
					if e.ID != uint64(i+1) || e.Message != msg(e.ID) {
						t.Fatalf("applied[%d] = %+v: not the gap-free prefix", i, e)
					}
				}
				if maxPending >= n {
					prefix := uint64(0)
					for delivered[prefix+1] {
						prefix++
					}
					if a.Last() != prefix {
						t.Fatalf("Last %d, but 1..%d were all delivered", a.Last(), prefix)
					}
				}
				if a.Pending() > maxPending {
					t.Fatalf("%d held back, at most %d", a.Pending(), maxPending)
				}
			},
		})
	})
}
