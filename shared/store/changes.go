package store

import "sync"

// changes broadcasts "the log changed": one channel, closed and replaced
// at each change, so that any number of readers wait on it and are all
// woken by one close per append batch, not one wake-up per reader per
// message. The zero value is ready to use; safe for concurrent use. Its
// mutex is a leaf: taken under a store's lock, it takes no other.
type changes struct {
	mu sync.Mutex
	ch chan struct{} // guarded by mu; nil until someone waits
}

// wait returns a channel closed at the next change.
func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// notify wakes every waiter.
func (c *changes) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}
