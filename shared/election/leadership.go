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
	begun    bool                 // the start reached a majority; it stays reached unless a learner's old ack counted
	round    uint64               // the round stamped on frames; a learner's readiness starts a new one
	echoed   map[string]uint64    // voter → the highest round it echoed
	learners map[string]*learning // nodes known to have lost their data directory, until they vote again
}

// NewLeadership starts the leadership of self for the epoch that started
// at s, in a cluster of clusterSize nodes, demoted after timeout of
// silence from a majority; the start is persisted on self, whose log
// holds up to s.FirstID-1.
func NewLeadership(self string, s epoch.Start, clusterSize int, timeout time.Duration, now time.Time) *Leadership {
	l := &Leadership{
		self: self, epoch: s.Epoch, start: s.FirstID - 1, majority: Majority(clusterSize),
		timeout: timeout, since: now,
		held: map[string]uint64{}, heard: map[string]time.Time{}, echoed: map[string]uint64{},
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
	delete(l.learners, node) // a voter's ack: re-admitted
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

// Promised records a promise the leader's own voter persisted while it
// leads (it granted a prepare): any promise but its own for this epoch is
// for a higher one, and deposes it (Check) before the promise leaves —
// the promise offers the log as it is then, so anything the leader
// appended or acknowledged afterwards would be outside what the
// candidate copies.
func (l *Leadership) Promised(p Promise) {
	if p != (Promise{Epoch: l.epoch, To: l.self}) {
		l.higher = max(l.higher, p.Epoch, l.epoch+1)
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

// Learner records that node is a learner: it lost its data directory,
// and with it its log and its promises (its frames say so). Its old acks
// stop counting from now on — it no longer holds what they said — but
// what they helped acknowledge is owed to it: the highest id a majority,
// its old ack included, held when the leader learnt of the wipe. Every
// write acknowledged so far is at or below that id (Committed), and every
// write acknowledged later had a majority without it. The epoch start is
// judged again without it too (a repeat of an older entry must wait for
// a start on a majority that still holds it).
func (l *Leadership) Learner(node string) {
	if _, ok := l.learners[node]; ok {
		return
	}
	if l.learners == nil {
		l.learners = map[string]*learning{}
	}
	l.learners[node] = &learning{owed: l.Committed()}
	delete(l.held, node)
	l.begun = l.holders(l.start) >= l.majority
}

// LearnerReady records that the learner node said its hold is over (see
// Readmission.HoldOver). It starts a new round: the leader stamps its
// frames with Round, followers echo it (Echo), and only the echoes of
// this round or a later one can confirm the learner's readmission.
func (l *Leadership) LearnerReady(node string) {
	if o := l.learners[node]; o != nil && o.round == 0 {
		l.round++
		o.round = l.round
	}
}

// Round is the round the leader stamps on every frame it sends now.
func (l *Leadership) Round() uint64 { return l.round }

// Echo records that node, a voter, took a frame of this epoch stamped
// round: it had not promised a higher epoch when it read that frame.
func (l *Leadership) Echo(node string, round uint64) {
	l.echoed[node] = max(l.echoed[node], round)
}

// ReadmitID is the id a learner must hold before it votes again: what
// was acknowledged with its forgotten acks, and at least the epoch's
// start (so it adopts the start and promises this epoch); 0 when node is
// not known as a learner or the epoch has not begun.
func (l *Leadership) ReadmitID(node string) uint64 {
	o := l.learners[node]
	if o == nil || !l.begun {
		return 0
	}
	return max(o.owed, l.start)
}

// Confirmed reports whether the leader may re-admit the learner node: it
// said its hold is over, and since then a majority of the cluster not
// counting it — the leader and voters that echoed a frame stamped after
// that — took this epoch's frames. Each of them would have refused them
// had it promised a higher epoch, so no higher epoch had won by the time
// the learner was ready, and this leader is not a deposed one answering
// from old acks. Rounds, not times: a frame read late by the learner
// still proves it, because nothing after the round could use the
// learner's forgotten promise (see docs/FAILOVER.md, "Wiped nodes").
func (l *Leadership) Confirmed(node string) bool {
	o := l.learners[node]
	if o == nil || o.round == 0 || !l.begun {
		return false
	}
	// The leader counts: it stops leading when it grants a higher
	// prepare, and it persists the learner's new life (Readmitting)
	// before its frames of the round carry it.
	n := 1
	for v, r := range l.echoed {
		if _, learner := l.learners[v]; v != l.self && v != node && !learner && r >= o.round {
			n++
		}
	}
	return n >= l.majority
}

// Readmitting returns the lives the leader's frames carry now: for each
// learner that said it was ready, the life it gets once re-admitted —
// this epoch and the round its readiness started. A follower persists
// them before it echoes the frame, so every node of the majority that
// confirms a learner knows its new life, and says so in the promises it
// gives afterwards (see Life). nil when no learner is ready.
func (l *Leadership) Readmitting() Lives {
	var ls Lives
	for node, o := range l.learners {
		if o.round != 0 {
			if ls == nil {
				ls = Lives{}
			}
			ls[node] = Life{Epoch: l.epoch, Round: o.round}
		}
	}
	return ls
}

// learning is what the leader keeps of a learner.
type learning struct {
	owed  uint64 // Committed when the leader learnt of the wipe
	round uint64 // the round the learner's "hold over" started; 0 before it
}
