package replication

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestTrackerAgainstAModel: any sequence of waits, holds, cancels and
// forgets gives, at every step, what a naive model says: a wait is
// satisfied exactly when it is held by at least Need secondaries, and
// is reported once.
func TestTrackerAgainstAModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := []string{"a", "b", "c", "d"}
		tr := NewTracker()
		held := map[string]uint64{}
		var pending []*Wait
		holders := func(id uint64) int {
			n := 0
			for _, h := range held {
				if h >= id {
					n++
				}
			}
			return n
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				w := NewWait(rapid.Uint64Range(1, 40).Draw(t, "id"), rapid.IntRange(1, 4).Draw(t, "need"))
				want := holders(w.ID) >= w.Need
				if got := tr.Add(w); got != want {
					t.Fatalf("Add(%d, need %d) = %v with holders %d", w.ID, w.Need, got, holders(w.ID))
				}
				if !want {
					pending = append(pending, w)
				}
			},
			"hold": func(t *rapid.T) {
				node := rapid.SampledFrom(nodes).Draw(t, "node")
				id := rapid.Uint64Range(0, 45).Draw(t, "id")
				held[node] = id
				got := tr.Hold(node, id)
				var want []*Wait
				pending = slices.DeleteFunc(pending, func(w *Wait) bool {
					if holders(w.ID) >= w.Need {
						want = append(want, w)
						return true
					}
					return false
				})
				byPtr := func(a, b *Wait) int {
					if a == b {
						return 0
					}
					if a.ID != b.ID {
						return int(a.ID) - int(b.ID)
					}
					return a.Need - b.Need
				}
				slices.SortFunc(got, byPtr)
				slices.SortFunc(want, byPtr)
				if len(got) != len(want) {
					t.Fatalf("Hold(%s, %d) satisfied %d waits, the model %d", node, id, len(got), len(want))
				}
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Fatalf("Hold(%s, %d) did not satisfy wait %d need %d", node, id, w.ID, w.Need)
					}
				}
			},
			"cancel": func(t *rapid.T) {
				if len(pending) == 0 {
					t.Skip("nothing waits")
				}
				i := rapid.IntRange(0, len(pending)-1).Draw(t, "i")
				tr.Cancel(pending[i])
				tr.Cancel(pending[i]) // twice: the second is ignored
				pending = slices.Delete(pending, i, i+1)
			},
			"forget": func(t *rapid.T) {
				node := rapid.SampledFrom(nodes).Draw(t, "node")
				delete(held, node)
				tr.Forget(node)
			},
			"": func(t *rapid.T) {
				if tr.Waiting() != len(pending) {
					t.Fatalf("%d waiting, the model %d", tr.Waiting(), len(pending))
				}
				for id := uint64(1); id <= 45; id++ {
					if tr.Holders(id) != holders(id) {
						t.Fatalf("Holders(%d) = %d, the model %d", id, tr.Holders(id), holders(id))
					}
				}
			},
		})
	})
}

// TestFlowNeverResendsOrOverflows: under any sequence of appends, sends,
// acks, nacks and reconnects, a Flow never sends an id twice without a
// nack or a reconnect in between, never has more than its window of ids
// or its frames unacked, and always sends from where the peer needs.
func TestFlowNeverResendsOrOverflows(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		window := rapid.Uint64Range(1, 20).Draw(t, "window")
		maxFrames := rapid.IntRange(1, 4).Draw(t, "maxFrames")
		f := NewFlow(1, window, maxFrames, false)
		var last uint64 // the log's last id
		sent := map[uint64]bool{}
		next := uint64(1)  // what the peer gets next, by the model
		var highest uint64 // the highest id ever sent; a nack rewinds next, not this
		frames := 0
		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) { last += rapid.Uint64Range(1, 10).Draw(t, "n") },
			"send": func(t *rapid.T) {
				from, n := f.Next(last, rapid.IntRange(1, 8).Draw(t, "max"))
				if n == 0 {
					return
				}
				if from != next {
					t.Fatalf("sends from %d, the peer needs %d", from, next)
				}
				for id := from; id < from+uint64(n); id++ {
					if id > last {
						t.Fatalf("sends %d beyond the log's last id %d", id, last)
					}
					if sent[id] {
						t.Fatalf("sends %d twice without a nack or a reconnect", id)
					}
					sent[id] = true
				}
				f.Sent(n)
				next += uint64(n)
				highest = max(highest, next-1)
				frames++
				if unacked := next - 1 - f.Acked(); unacked > window {
					t.Fatalf("%d ids unacked, window %d", unacked, window)
				}
				if frames > maxFrames {
					t.Fatalf("%d frames unacked, at most %d", frames, maxFrames)
				}
			},
			"ack": func(t *rapid.T) {
				if highest <= f.Acked() {
					t.Skip("nothing to ack")
				}
				// Up to the highest id ever sent: after a nack, the
				// resend may fill a gap behind ids the peer kept.
				id := rapid.Uint64Range(f.Acked()+1, highest).Draw(t, "id")
				if !f.Ack(id) {
					t.Fatalf("an ack of sent id %d refused", id)
				}
				next = max(next, id+1) // the peer holds them: none is sent again
				frames = 0             // conservatively: the model counts frames since the last ack
			},
			"ack beyond": func(t *rapid.T) {
				if f.Ack(highest + 1 + rapid.Uint64Range(0, 5).Draw(t, "past")) {
					t.Fatal("an ack of an id never sent was taken")
				}
			},
			"nack": func(t *rapid.T) {
				from := rapid.Uint64Range(f.Acked()+1, next).Draw(t, "from")
				f.Nack(from)
				for id := from; id < next; id++ {
					delete(sent, id)
				}
				next, frames = from, 0
			},
			"reconnect": func(t *rapid.T) {
				f = NewFlow(f.Acked()+1, window, maxFrames, false)
				clear(sent)
				next, highest, frames = f.Acked()+1, f.Acked(), 0
			},
		})
	})
}
