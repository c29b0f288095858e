package election

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/replog/replog/shared/epoch"
)

// Reasons a leader stops leading; Leadership.Check wraps one.
var (
	// ErrDeposed: a frame carried an epoch above the leader's; its
	// successor's electors refuse it anyway.
	ErrDeposed = errors.New("a higher epoch exists")
	// ErrMajoritySilent: no majority was heard from for the failover
	// timeout; a successor may exist, and the leader must not go on
	// saying ok to reads and writes it cannot vouch for.
	ErrMajoritySilent = errors.New("no majority heard from")
)

// Leadership is one epoch of one leader: what each node acked in this
// epoch, when each was last heard, and the highest epoch seen. It decides
// when the leader may acknowledge anything (its epoch start on a
// majority) and when it must stop leading. The leader counts itself: the
// caller feeds Ack(self, lastID) as its own log grows.
type Leadership struct {
	self     string
	epoch    uint64
	start    uint64 // the id before the epoch's first: a majority must hold it
	majority int
	timeout  time.Duration
	since    time.Time
	held     map[string]uint64    // node → the id it acked in this epoch
	heard    map[string]time.Time // node → when a frame of this epoch last came from it
	higher   uint64               // the highest epoch seen above this one
	begun    bool                 // the start reached a majority; it stays reached
}

// NewLeadership starts the leadership of self for the epoch that started
// at s, in a cluster of clusterSize nodes, demoted after timeout of
// silence from a majority; the start is persisted on self, whose log
// holds up to s.FirstID-1.
func NewLeadership(self string, s epoch.Start, clusterSize int, timeout time.Duration, now time.Time) *Leadership {
	l := &Leadership{
		self: self, epoch: s.Epoch, start: s.FirstID - 1, majority: Majority(clusterSize),
		timeout: timeout, since: now,
		held: map[string]uint64{}, heard: map[string]time.Time{},
	}
	l.Ack(self, s.FirstID-1, now)
	return l
}

// Epoch is the epoch led.
func (l *Leadership) Epoch() uint64 { return l.epoch }

// Ack records that node holds the leader's log up to id, in this epoch. A
// follower acks an id at or past the start only after persisting the
// start, so such an ack is also "the start is on my disk". id may go
// down (a follower restarted with less: FSYNC was not always).
func (l *Leadership) Ack(node string, id uint64, now time.Time) {
	l.held[node] = id
	l.heard[node] = now
	if !l.begun && l.holders(l.start) >= l.majority {
		l.begun = true
	}
}

// Heard records a frame of this epoch from node that carries no ack (a
// heartbeat's echo).
func (l *Leadership) Heard(node string, now time.Time) { l.heard[node] = now }

// SawEpoch records an epoch seen in any frame; one above the leader's
// deposes it.
func (l *Leadership) SawEpoch(e uint64) {
	if e > l.epoch {
		l.higher = max(l.higher, e)
	}
}

// Begun reports whether a majority, the leader included, holds the log up
// to the epoch's start and persisted the start. Before that, an entry
// already on a majority may still be lost to a candidate with an older
// last epoch (Raft's Figure 8), so nothing may be acknowledged.
func (l *Leadership) Begun() bool { return l.begun }

// Acknowledged reports whether a write at id, waiting for w nodes (the
// leader is the first), may be answered now: the epoch has begun and w
// nodes hold id. It serves a new append and an Idempotency-Key repeat of
// an older one alike.
func (l *Leadership) Acknowledged(id uint64, w int) bool {
	return l.begun && l.holders(id) >= w
}

// Committed is the highest id a majority holds once the epoch has begun,
// 0 before: what the leader may call safe.
func (l *Leadership) Committed() uint64 {
	if !l.begun {
		return 0
	}
	ids := make([]uint64, 0, len(l.held))
	for _, id := range l.held {
		ids = append(ids, id)
	}
	if len(ids) < l.majority {
		return 0
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	// The majority-th largest is held by a majority.
	return ids[l.majority-1]
}

func (l *Leadership) holders(id uint64) int {
	n := 0
	for _, h := range l.held {
		if h >= id {
			n++
		}
	}
	return n
}

// Check reports whether the leader must stop leading now: a higher epoch
// was seen, or — once the leadership is a timeout old — fewer than a
// majority, itself included, were heard from within the timeout. Safety
// never rests on this (promises do that); it bounds how long a cut-off
// leader answers at all.
func (l *Leadership) Check(now time.Time) error {
	if l.higher > l.epoch {
		return fmt.Errorf("leader of epoch %d: %w (%d)", l.epoch, ErrDeposed, l.higher)
	}
	if now.Sub(l.since) < l.timeout {
		return nil
	}
	n := 1
	for node, t := range l.heard {
		if node != l.self && now.Sub(t) < l.timeout {
			n++
		}
	}
	if n < l.majority {
		return fmt.Errorf("leader of epoch %d: %w for %v (%d of %d needed)", l.epoch, ErrMajoritySilent, l.timeout, n, l.majority)
	}
	return nil
}

// QuorumWithout is the highest id that a majority of the cluster not
// counting node holds in this epoch, 0 before the epoch has begun. The
// leader tells a learner this id: once the learner holds it, the leader
// was current after the learner's wipe without the learner's help (a
// deposed leader cannot reach such a majority: its successor's electors
// refuse it), and the learner holds every acknowledged write.
func (l *Leadership) QuorumWithout(node string) uint64 {
	if !l.begun {
		return 0
	}
	ids := make([]uint64, 0, len(l.held))
	for n, id := range l.held {
		if n != node {
			ids = append(ids, id)
		}
	}
	if len(ids) < l.majority {
		return 0
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids[l.majority-1]
}
