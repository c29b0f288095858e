package election

import "time"

// Handoff is a switchover in progress (POST /promote on a standby whose
// leader is reachable). The leader takes no write from the moment it
// starts one, so LastID is its last id for good; the standby stands once
// it holds it, and is then the most up-to-date node: nothing the leader
// accepted is lost, whatever each write's write concern. Both ends hold
// one; it is volatile (a crash ends it, and a restarted leader is no
// longer leading).
type Handoff struct {
	To       string    // the standby that will stand
	Epoch    uint64    // the leader's epoch
	LastID   uint64    // the leader's last id when it stopped taking writes
	Deadline time.Time // the leader takes writes again if no successor showed by then
}

// Ready reports whether the standby may stand, given the last epoch of
// its history and its last id. The last epoch must be the leader's: then
// the standby adopted the leader's start, its log is the leader's up to
// its last id, and holding LastID it holds everything the leader has.
func (h Handoff) Ready(lastEpoch, last uint64) bool { return lastEpoch == h.Epoch && last >= h.LastID }

// Lapsed reports whether the leader may take writes again: the standby
// did not stand in time.
func (h Handoff) Lapsed(now time.Time) bool { return !now.Before(h.Deadline) }
