package election

import "time"

// Handoff is a switchover in progress (POST /promote on a standby whose
// leader is reachable). The leader takes no write from the moment it
// starts one, so LastID is its last id for good; the standby stands once
// it holds it, and is then the most up-to-date node: nothing the leader
// accepted is lost, whatever each write's write concern. Both ends hold
// one, with the same deadline; it is volatile (a crash ends it, and a
// restarted leader is no longer leading).
type Handoff struct {
	From     string    // the leader handing off: the standby's candidacy needs its promise (Tally.Need)
	To       string    // the standby that will stand
	Epoch    uint64    // the leader's epoch
	LastID   uint64    // the leader's last id when it stopped taking writes
	Deadline time.Time // both ends drop the handoff then: the leader may take writes again, the standby no longer stands on it
}

// Ready reports whether the standby may stand at now, given the last
// epoch of its history and its last id. The last epoch must be the
// leader's: then the standby adopted the leader's start, its log is the
// leader's up to its last id, and holding LastID it holds everything the
// leader has. A lapsed handoff is never ready: its leader may have taken
// writes again, and a standby (a FAILOVER=manual one above all) must not
// stand later on a switchover its operator saw fail.
func (h Handoff) Ready(lastEpoch, last uint64, now time.Time) bool {
	return !h.Lapsed(now) && lastEpoch == h.Epoch && last >= h.LastID
}

// Lapsed reports whether the handoff is over without a successor: the
// leader may take writes again, and the standby drops it.
func (h Handoff) Lapsed(now time.Time) bool { return !now.Before(h.Deadline) }

// Replaces reports whether h, just received, replaces old, the handoff
// the standby holds: a later handoff of the same leader (its first one
// lapsed, it took writes again and handed off anew) carries a LastID at
// least as high, or a higher epoch. A delayed copy of an older handoff
// does not replace a newer one.
func (h Handoff) Replaces(old Handoff) bool {
	return h.Epoch > old.Epoch || (h.Epoch == old.Epoch && h.LastID >= old.LastID)
}
