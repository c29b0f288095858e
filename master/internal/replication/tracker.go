package replication

import (
	"container/heap"
	"slices"
)

// Wait is a write waiting for its write concern: it is satisfied once
// Need secondaries hold ID.
type Wait struct {
	ID   uint64
	Need int
	// Done is closed by the Tracker's owner when the Tracker reports the
	// wait satisfied; the Tracker itself never touches it.
	Done chan struct{}
	// Dropped is set, before Done is closed, when retention dropped ID
	// before the write concern was met.
	Dropped bool
	// Ended is set, before Done is closed, when the term the write was
	// appended in ended first (Hub.EndTerm).
	Ended bool
	// Holders is set by the Tracker when it reports the wait satisfied:
	// how many secondaries held ID then, so that the woken writer need not
	// ask again under its owner's lock.
	Holders int

	index int // position in its heap; -1 once it left
}

// NewWait returns a wait for id held by need secondaries.
func NewWait(id uint64, need int) *Wait {
	return &Wait{ID: id, Need: need, Done: make(chan struct{}), index: -1}
}

// Tracker decides which writes have met their write concern. It is pure:
// it learns "secondary X holds everything up to N" and answers which waits
// that satisfies, like hashicorp/raft's commitment or etcd's
// quorum.CommittedIndex. It is not safe for concurrent use; its owner
// locks around it.
type Tracker struct {
	held    map[string]uint64 // secondary name → highest id it holds
	waiting map[int]*waitHeap // need → waits ordered by id
	sorted  []uint64          // scratch: held values, largest first
}

// NewTracker returns a tracker that knows no secondaries.
func NewTracker() *Tracker {
	return &Tracker{held: map[string]uint64{}, waiting: map[int]*waitHeap{}}
}

// Add registers w. It reports true, and keeps nothing, if w is already
// satisfied.
func (t *Tracker) Add(w *Wait) bool {
	if t.Holders(w.ID) >= w.Need {
		return true
	}
	h := t.waiting[w.Need]
	if h == nil {
		h = &waitHeap{}
		t.waiting[w.Need] = h
	}
	heap.Push(h, w)
	return false
}

// Cancel forgets w, whose client went away. Unknown or satisfied waits
// are ignored.
func (t *Tracker) Cancel(w *Wait) {
	h := t.waiting[w.Need]
	if h == nil || w.index < 0 || w.index >= h.Len() || (*h)[w.index] != w {
		return
	}
	heap.Remove(h, w.index)
}

// Hold records that node holds every id up to id and returns the waits
// that are satisfied now. id may go down: a secondary that restarted
// with an empty log says so in its hello.
func (t *Tracker) Hold(node string, id uint64) []*Wait {
	t.held[node] = id
	t.sorted = t.sorted[:0]
	for _, v := range t.held {
		t.sorted = append(t.sorted, v)
	}
	slices.Sort(t.sorted)
	slices.Reverse(t.sorted)
	var done []*Wait
	for need, h := range t.waiting {
		if need > len(t.sorted) {
			continue
		}
		// The need-th largest position is held by at least need nodes.
		commit := t.sorted[need-1]
		for h.Len() > 0 && (*h)[0].ID <= commit {
			w := heap.Pop(h).(*Wait)
			w.Holders = t.Holders(w.ID)
			done = append(done, w)
		}
	}
	return done
}

// Committed is the highest id held by majority nodes, a leader that
// holds up to last counted as one of them (the secondaries' acks alone
// never pass last: they hold what it sent): etcd's
// quorum.CommittedIndex. 0 while fewer nodes are known.
func (t *Tracker) Committed(majority int, last uint64) uint64 {
	if majority <= 1 {
		return last
	}
	if len(t.held) < majority-1 {
		return 0
	}
	t.sorted = t.sorted[:0] // the scratch Hold uses: no allocation per ack
	for _, v := range t.held {
		t.sorted = append(t.sorted, v)
	}
	slices.Sort(t.sorted)
	slices.Reverse(t.sorted)
	// The (majority-1)-th largest is held by majority-1 secondaries and
	// the leader.
	return min(t.sorted[majority-2], last)
}

// DropBelow removes and returns the waits for ids below id: retention
// dropped those ids, so secondaries that lack them can never get them.
func (t *Tracker) DropBelow(id uint64) []*Wait {
	var gone []*Wait
	for _, h := range t.waiting {
		for h.Len() > 0 && (*h)[0].ID < id {
			gone = append(gone, heap.Pop(h).(*Wait))
		}
	}
	return gone
}

// Forget drops node, gone for good: it no longer counts for any id.
func (t *Tracker) Forget(node string) { delete(t.held, node) }

// Holders counts the secondaries that hold id.
func (t *Tracker) Holders(id uint64) int {
	n := 0
	for _, v := range t.held {
		if v >= id {
			n++
		}
	}
	return n
}

// Held returns the highest id node holds, and whether node is known.
func (t *Tracker) Held(node string) (uint64, bool) {
	v, ok := t.held[node]
	return v, ok
}

// Waiting counts the waits not yet satisfied.
func (t *Tracker) Waiting() int {
	n := 0
	for _, h := range t.waiting {
		n += h.Len()
	}
	return n
}

// waitHeap is a min-heap of waits by id.
type waitHeap []*Wait

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].ID < h[j].ID }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*Wait)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}
