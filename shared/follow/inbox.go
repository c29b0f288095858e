package follow

import (
	"sync"

	"github.com/replog/replog/shared/frame"
)

// inbox hands append frames from the reader to the applier goroutine, and
// says who may apply: the applier goroutine while it holds frames it took
// (busy), or the reader itself when nothing waits (claim). Either way the
// frames are applied in the order they came. It needs no bound of its
// own: the master's window bounds the ids in flight.
type inbox struct {
	mu     sync.Mutex
	frames [][]frame.Entry // guarded by mu
	closed bool            // guarded by mu
	busy   bool            // guarded by mu; someone is applying (until done)
	ready  chan struct{}   // capacity 1: "frames are waiting, or closed"
}

func newInbox() *inbox { return &inbox{ready: make(chan struct{}, 1)} }

func (in *inbox) put(entries []frame.Entry) {
	in.mu.Lock()
	in.frames = append(in.frames, entries)
	in.mu.Unlock()
	in.signal()
}

func (in *inbox) close() {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.signal()
}

func (in *inbox) signal() {
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

// claim lets the reader apply a frame itself, with no hand-off: it
// reports true when no frame waits and nobody is applying, and then the
// reader holds the inbox until it calls done.
func (in *inbox) claim() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.busy || in.closed || len(in.frames) > 0 {
		return false
	}
	in.busy = true
	return true
}

// done ends a claim, or the applier goroutine's hold on what it took.
// It wakes the applier goroutine only for frames put meanwhile: waking it
// for nothing, once per frame the reader applies, costs a wake-up of a
// thread for each frame.
func (in *inbox) done() {
	in.mu.Lock()
	in.busy = false
	waiting := len(in.frames) > 0
	in.mu.Unlock()
	if waiting {
		in.signal()
	}
}

// take waits until frames wait and nobody is applying, and returns them
// all, holding the inbox until done; ok is false once the inbox is closed.
func (in *inbox) take() (frames [][]frame.Entry, ok bool) {
	for {
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return nil, false
		}
		if len(in.frames) > 0 && !in.busy {
			frames, in.frames, in.busy = in.frames, nil, true
			in.mu.Unlock()
			return frames, true
		}
		in.mu.Unlock()
		<-in.ready
	}
}
