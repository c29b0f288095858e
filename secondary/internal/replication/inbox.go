package replication

import (
	"sync"

	"github.com/replog/replog/shared/frame"
)

// inbox hands append frames from the reader to the applier. It needs no
// bound of its own: the master's window bounds the ids in flight.
type inbox struct {
	mu     sync.Mutex
	frames [][]frame.Entry // guarded by mu
	closed bool            // guarded by mu
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

// take waits for frames and returns all that are waiting; ok is false
// once the inbox is closed.
func (in *inbox) take() (frames [][]frame.Entry, ok bool) {
	for {
		in.mu.Lock()
		frames, closed := in.frames, in.closed
		in.frames = nil
		in.mu.Unlock()
		if closed {
			return nil, false
		}
		if len(frames) > 0 {
			return frames, true
		}
		<-in.ready
	}
}
