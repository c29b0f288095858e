package store

import (
	"math"
	"sync/atomic"
)

// Commit is the commit id a node knows: the highest id it has learnt a
// majority of the cluster holds, which no failover can roll back. A
// leader raises it as its followers ack, a follower as its leader's
// frames say it (frame.Frame.CommitID). It only goes up, but for Reset.
// Reads show at most min(ID, the log's LastID): a follower may hear of a
// commit id before it holds it. The zero value knows none (0); safe for
// concurrent use.
type Commit struct {
	id      atomic.Uint64
	changes changes
}

// All is the commit id of a cluster of one node: everything it holds.
const All = math.MaxUint64

// ID is the commit id known, 0 for none.
func (c *Commit) ID() uint64 { return c.id.Load() }

// Raise moves the commit id up to id, if it is higher, waking the
// waiters of Changed, and reports whether it moved.
func (c *Commit) Raise(id uint64) bool {
	for {
		cur := c.id.Load()
		if id <= cur {
			return false
		}
		if c.id.CompareAndSwap(cur, id) {
			c.changes.notify()
			return true
		}
	}
}

// Reset forgets the commit id: the log it was of is gone (a follower
// took another log).
func (c *Commit) Reset() {
	c.id.Store(0)
	c.changes.notify()
}

// Changed returns a channel closed the next time the commit id moves. To
// wait for it to pass n, take the channel first, then check ID.
func (c *Commit) Changed() <-chan struct{} { return c.changes.wait() }
