package follow

import (
	"context"
	"fmt"
	"sync"
)

// slot is failover mode's following slot: at most one link at a time
// follows a leader, and only it writes to the store. A link that takes
// it from another cancels that one and waits until its session has
// returned (its applying done) before it writes anything itself.
type slot struct {
	mu     sync.Mutex
	holder *holder // guarded by mu; nil while leaderless
}

// holder is a following link's session, as the slot knows it.
type holder struct {
	epoch  uint64
	cancel context.CancelCauseFunc // ends the session
	done   chan struct{}           // closed by release, once the session stopped applying
}

// take makes me the holder once the one before it (if any) has
// released the slot. It never takes the slot from the follower of a
// higher epoch: this node promised that epoch, so the leader of me.epoch
// is refused anyway (Ballot.Check).
func (s *slot) take(ctx context.Context, me *holder, leader string) error {
	for {
		s.mu.Lock()
		h := s.holder
		if h == nil {
			s.holder = me
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		if h.epoch > me.epoch {
			return fmt.Errorf("leader %s of epoch %d: following a leader of epoch %d already", leader, me.epoch, h.epoch)
		}
		h.cancel(fmt.Errorf("following %s of epoch %d instead", leader, me.epoch))
		select {
		case <-h.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees the slot me holds and tells whoever waits for it.
func (s *slot) release(me *holder) {
	s.mu.Lock()
	if s.holder == me {
		s.holder = nil
	}
	s.mu.Unlock()
	close(me.done)
}
