// Package ballot is a node's promises (docs/FAILOVER.md, invariant 2):
// an election.Voter whose every change is on disk before the answer that
// made it returns. One Ballot serves the node's follower, which accepts
// leaders and answers candidates' prepares, and, on a master-capable
// node, its own candidacy.
package ballot

import (
	"errors"
	"fmt"
	"sync"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/store"
)

// Ballot holds the node's promise state.
//
// Its mutex is held across the promise's fsync, the one place a lock
// spans I/O on purpose: the decision and its persistence are one step,
// or two prepares read from the same old promise could both be granted.
// Nothing else is locked while it is held but what the hooks take (see
// OnPromise).
type Ballot struct {
	mu    sync.Mutex
	v     *election.Voter
	node  string // the NODE_NAME saved with every promise
	save  func(store.Promise) error
	hooks []func(election.Promise)
}

// New returns the ballot of node (its NODE_NAME) that loaded p (and
// whether it is a learner) from disk; save persists a changed promise
// durably.
func New(p election.Promise, learner bool, node string, save func(store.Promise) error) *Ballot {
	return &Ballot{v: election.NewVoter(p, learner), node: node, save: save}
}

// OnPromise adds f, called with every promise the ballot persisted that
// differs from the one it held, after it is on disk and before the call
// that made it returns — so before any promise or ack that rests on it
// leaves. A leader or candidate uses it to stop leading or standing
// before its promise to another node leaves (Leadership.Promised,
// Tally.Promised). f runs with the ballot's lock held: it must not call
// the ballot.
func (b *Ballot) OnPromise(f func(election.Promise)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hooks = append(b.hooks, f)
}

// persist saves p when it differs from was, then tells the hooks; mu is
// held. On failure the voter keeps p in memory, which only makes it
// stricter; the caller refuses whatever p was for.
func (b *Ballot) persist(was, p election.Promise) error {
	if p == was {
		return nil
	}
	if err := b.save(store.Promise{Promise: p, Learner: b.v.Learner(), Node: b.node}); err != nil {
		return err
	}
	for _, f := range b.hooks {
		f(p)
	}
	return nil
}

// Prepare answers a candidate's prepare for epoch e: granted (the
// promise is on disk) or an error saying why not. The promise returned is
// the one held after the answer, for a refusal's promised epoch.
func (b *Ballot) Prepare(e uint64, candidate string) (election.Promise, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.v.Promised()
	p, err := b.v.Prepare(e, candidate)
	if err != nil {
		return p, err
	}
	return p, b.persist(was, p)
}

// Accept decides whether frames of leader, leading epoch e, may be taken;
// nil once the promise that says so is on disk. A node that promised e to
// another candidate, or to itself, and hears the winner of e follows it
// (election.Voter.Accept says why that is safe).
func (b *Ballot) Accept(e uint64, leader string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.v.Promised()
	p, err := b.v.Accept(e, leader)
	if err != nil {
		return err
	}
	return b.persist(was, p)
}

// Check reports, without changing anything, whether frames of leader of
// epoch e may still be taken: a frame of a leader accepted earlier is
// refused once a higher epoch was promised.
func (b *Ballot) Check(e uint64, leader string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.v.Promised()
	switch {
	case e < p.Epoch:
		return fmt.Errorf("leader %s of epoch %d: %w %d", leader, e, election.ErrStaleEpoch, p.Epoch)
	case e == p.Epoch && p.To != leader && p.To != "":
		return fmt.Errorf("leader %s of epoch %d: %w (%s)", leader, e, election.ErrPromisedOther, p.To)
	case e > p.Epoch:
		return fmt.Errorf("leader %s of epoch %d: not accepted yet (promised %d)", leader, e, p.Epoch)
	}
	return nil
}

// Stand promises self the epoch above everything this node promised,
// holds (lastEpoch) or saw, on disk before it returns.
func (b *Ballot) Stand(self string, lastEpoch uint64) (election.Promise, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.v.Promised()
	p, err := b.v.Stand(self, lastEpoch)
	if err != nil {
		return p, err
	}
	return p, b.persist(was, p)
}

// See records an epoch seen in any frame, so that a candidacy of this
// node stands above it.
func (b *Ballot) See(e uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.v.See(e)
}

// Promised is the promise on disk.
func (b *Ballot) Promised() election.Promise {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v.Promised()
}

// Learner reports whether the node is a learner: its data directory was
// wiped; it neither votes nor stands, and its acks count for nothing.
func (b *Ballot) Learner() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v.Learner()
}

// ErrNoDataDir: a node of a PEERS cluster keeps its promises in its data
// directory; without one it would forget them on restart.
var ErrNoDataDir = errors.New("a node of a cluster with failover needs DATA_DIR")

// ErrOtherNode: the data directory holds another node's promises. A
// leader counts votes and acks by name; one directory speaking under two
// names (a NODE_NAME changed, two replicas that swapped their volumes)
// would count twice, and a minority could elect a leader.
var ErrOtherNode = errors.New("the data directory belongs to another node")

// Owner is the NODE_NAME dataDir's promises belong to, "" when none is
// recorded (a new directory, or one of a release before names were).
func Owner(dataDir string) (string, error) {
	p, _, err := store.ReadPromise(dataDir)
	return p.Node, err
}

// Load decides, before the log in dataDir is opened, what promise node
// (its NODE_NAME) holds and whether it is a learner (election.Opened),
// and writes promise.json first when there is none yet (docs/FAILOVER.md,
// A4): a wiped node's says learner, so that a crash before its first
// record cannot make it come back a voter. clusterNew is
// CLUSTER_STATE=new. A directory whose promises belong to another node is
// refused (ErrOtherNode); one with no owner recorded becomes node's.
func Load(dataDir, node string, clusterNew bool) (election.Promise, bool, error) {
	if dataDir == "" {
		return election.Promise{}, false, ErrNoDataDir
	}
	d, err := inspect(dataDir)
	if err != nil {
		return election.Promise{}, false, err
	}
	owner, err := Owner(dataDir)
	if err != nil {
		return election.Promise{}, false, err
	}
	if owner != "" && owner != node {
		return election.Promise{}, false, fmt.Errorf("%w: %s holds the promises of %s, and this node is %s", ErrOtherNode, dataDir, owner, node)
	}
	p, learner, err := election.Opened(d, clusterNew)
	if err != nil {
		return p, learner, fmt.Errorf("%w; the files are in %s (restore it from a backup, or empty it to rejoin as a learner)", err, dataDir)
	}
	if d.Promise == nil || owner == "" {
		if err := store.WritePromise(dataDir, store.Promise{Promise: p, Learner: learner, Node: node}); err != nil {
			return p, learner, err
		}
	}
	return p, learner, nil
}

var inspect = store.InspectDataDir
