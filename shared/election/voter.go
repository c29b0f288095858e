// Package election decides replog's failover: what a node promises, when
// a candidate may lead, and when a leader may acknowledge a write or must
// stop leading. Its types are pure, like the replication Tracker: the
// WebSocket code feeds them frames and the time, persists what they say
// must be persisted before it answers, and acts on their answers. See
// docs/FAILOVER.md for the protocol and why each rule is there.
package election

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on; each answer wraps one with both
// epochs, for the error frame and the log line.
var (
	// ErrStaleEpoch: a candidate or leader of an epoch below the one
	// promised. Its frames are refused, so it cannot gather a majority.
	ErrStaleEpoch = errors.New("epoch below the promised one")
	// ErrPromisedOther: this epoch was promised to another node, and a
	// node promises an epoch once, so that two candidates of one epoch
	// can never both find a majority.
	ErrPromisedOther = errors.New("epoch already promised to another node")
	// ErrLearner: a node whose data directory was wiped forgot what it
	// promised and what it held; it does not vote until re-admitted.
	ErrLearner = errors.New("a learner does not vote")
)

// Promise is what a node persists (fsync) before it takes part in an
// epoch: the epoch, and the node it was promised to. An upgraded log holds
// {1, ""}: epoch 1 was the one master's, whoever it was.
type Promise struct {
	Epoch uint64 `json:"epoch"`
	To    string `json:"to"`
}

// Voter is one node's promise state. Every node of CLUSTER_SIZE has one,
// leaders and candidates included: a candidate promises itself like any
// other. The promise it holds is the one on disk: whenever an answer
// returns a Promise different from Promised(), the caller persists it
// before any reply or ack leaves.
type Voter struct {
	promised Promise
	learner  bool
	seen     uint64 // the highest epoch seen anywhere; volatile: a candidate stands above it
	// followed is the epoch whose leader Accept took last; volatile. A
	// second leader of that epoch cannot exist (one winner per epoch):
	// it is refused rather than followed, in case it ever did.
	followed uint64
}

// NewVoter returns the voter a node is when it starts, from the promise
// it loaded from disk. learner is true for a node that started with an
// empty data directory in an existing cluster.
func NewVoter(p Promise, learner bool) *Voter {
	return &Voter{promised: p, learner: learner, seen: p.Epoch}
}

// Promised returns the promise as it must be on disk.
func (v *Voter) Promised() Promise { return v.promised }

// Learner reports whether the voter is a learner.
func (v *Voter) Learner() bool { return v.learner }

// See records an epoch seen in any frame (a refusal, a hello), so that a
// candidacy of this node stands above it.
func (v *Voter) See(e uint64) { v.seen = max(v.seen, e) }

// Prepare answers a candidate's prepare for epoch e. It grants an epoch
// above the promised one, or the promised one again to the same candidate
// (its first answer was lost); it refuses anything else. It does not look
// at how up to date the candidate is: a refusal there could leave no
// electable node (standbys behind the secondaries that hold an
// acknowledged write); the candidate copies instead (Tally.Copy).
func (v *Voter) Prepare(e uint64, candidate string) (Promise, error) {
	v.See(e)
	switch {
	case v.learner:
		return v.promised, fmt.Errorf("prepare for epoch %d: %w", e, ErrLearner)
	case e < v.promised.Epoch:
		return v.promised, fmt.Errorf("prepare for epoch %d: %w %d", e, ErrStaleEpoch, v.promised.Epoch)
	case e == v.promised.Epoch && v.promised.To != candidate:
		return v.promised, fmt.Errorf("prepare for epoch %d from %s: %w (%s)", e, candidate, ErrPromisedOther, v.promised.To)
	}
	v.promised = Promise{Epoch: e, To: candidate}
	return v.promised, nil
}

// Accept decides whether frames of leader, leading epoch e, may be taken.
// A leader of an epoch above the promise is accepted once the returned
// promise is persisted; one below is refused, which is what deposes a
// leader whatever the timing.
//
// A leader of the promised epoch that is not the node it was promised to
// is accepted too, the promise then naming it (persisted first): it won e
// with a majority of promises of e that did not count this one, so the
// candidate this node promised e to (itself, perhaps) lost e — each node
// promises an epoch once, and majorities intersect — and no second leader
// of e can come of the promise. It is Raft's follower taking the entries
// of its term's leader whoever it voted for. Refusing (as this did until
// a 30-minute chaos soak) left a node that promised a losing candidate
// without a leader until the next election, however long the winner led:
// a secondary lagging ever further, and one voter fewer for the next
// failover. This grants the leader nothing: a prepare of e from any other
// node is still refused. A second leader of an epoch whose leader this
// voter already took is refused.
func (v *Voter) Accept(e uint64, leader string) (Promise, error) {
	v.See(e)
	switch {
	case e < v.promised.Epoch:
		return v.promised, fmt.Errorf("leader %s of epoch %d: %w %d", leader, e, ErrStaleEpoch, v.promised.Epoch)
	case e == v.promised.Epoch && v.promised.To != "" && v.promised.To != leader && v.followed == e:
		return v.promised, fmt.Errorf("leader %s of epoch %d: %w (%s, who leads it)", leader, e, ErrPromisedOther, v.promised.To)
	case e > v.promised.Epoch, v.promised.To != "":
		v.promised = Promise{Epoch: e, To: leader}
	}
	v.followed = e
	return v.promised, nil
}

// Stand makes this node a candidate: it promises itself the epoch above
// everything it promised, holds (lastEpoch) or saw. The caller persists
// the promise before it sends a prepare.
func (v *Voter) Stand(self string, lastEpoch uint64) (Promise, error) {
	if v.learner {
		return v.promised, fmt.Errorf("stand: %w", ErrLearner)
	}
	v.promised = Promise{Epoch: max(v.promised.Epoch, v.seen, lastEpoch) + 1, To: self}
	v.seen = v.promised.Epoch
	return v.promised, nil
}

// Readmit makes a learner a voter again, promising the epoch of the
// leader it caught up from (see docs/FAILOVER.md, "Wiped nodes"). The
// caller persists the promise first.
func (v *Voter) Readmit(p Promise) Promise {
	v.learner = false
	if p.Epoch > v.promised.Epoch {
		v.promised = p
	}
	return v.promised
}
