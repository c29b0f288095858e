package election_test

// A seeded, deterministic simulation of a failover cluster, in the manner
// of etcd's rafttest and hashicorp/raft's fuzzy: a few master-capable
// nodes and voters only, a network that drops, delays, reorders,
// duplicates and partitions, a simulated clock, crashes and restarts.
// Every decision is taken by the package's pure types (Voter, Tally,
// Leadership) and epoch's (Diverge, Adopt); the simulation is only the
// I/O. A node keeps on its disk exactly what a real one persists — its
// log of (id, epoch, message: its own key), its epoch history, its
// promise and its rollback files — and a crash loses everything else.
// The invariants of docs/FAILOVER.md are checked after every step.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
)

const simTimeout = 6 * time.Second // FAILOVER_TIMEOUT

type entry struct {
	ID, Epoch uint64
	Msg       string // unique per client write; it is also the write's key
}

// disk is what a node persists. The simulated nodes run with
// FSYNC=always: what a step wrote survives a crash after it.
type disk struct {
	log      []entry
	hist     epoch.History
	promise  election.Promise
	rollback []entry
	life     election.Life  // this voting life of the node (zero until a wipe and readmission)
	lives    election.Lives // what it knows of the others' lives
	changes  int            // bumped by every change of log, history or rollback: the checker skips an unchanged disk
}

type role int

const (
	follower role = iota
	candidate
	leader
)

func (r role) String() string { return [...]string{"follower", "candidate", "leader"}[r] }

type wait struct {
	id  uint64
	w   int
	msg string
}

type node struct {
	name    string
	master  bool
	up      bool
	disk    disk
	learner bool // its data directory was wiped: it neither votes nor counts until re-admitted

	// Volatile: a crash loses it.
	voter    *election.Voter
	role     role
	deadline time.Time // a master-capable follower stands when no leader was heard by then
	tally    *election.Tally
	copying  *election.Copy
	lead     *election.Leadership
	handoff  *election.Handoff // a switchover in progress: the leader's (it takes no writes) or the standby's
	readmit  election.Readmission
	next     map[string]uint64 // leader: the next id to send each follower
	waits    []wait            // leader: writes waiting for their write concern

	checked int // the disk's changes when the checker last read it
}

func (n *node) last() uint64 { return uint64(len(n.disk.log)) }

func (n *node) offer() election.Offer {
	o := election.OfferOf(n.disk.hist, n.last())
	o.Life, o.Lives = n.disk.life, n.disk.lives.Clone()
	return o
}

type kind int

const (
	kPrepare kind = iota
	kPromise
	kAppend
	kAck
	kRefuse
	kPull
	kPulled
	kHandoff
)

func (k kind) String() string {
	return [...]string{"prepare", "promise", "append", "ack", "refuse", "pull", "pulled", "handoff"}[k]
}

type message struct {
	kind     kind
	from, to string
	epoch    uint64
	granted  bool
	promised uint64         // promise (refused), refuse: the sender's promised epoch
	offer    election.Offer // promise (granted)
	hist     epoch.History  // append: the leader's history
	entries  []entry        // append, pulled
	id       uint64         // ack: the last id held; pull: the first id wanted
	learner  bool           // ack: from a learner, which counts for nothing
	quorum   uint64         // append: the id a learner must hold to vote again (Leadership.ReadmitID)
	fresh    bool           // append: the leader confirmed the learner's readmission (Leadership.Confirmed)
	round    uint64         // append: the leader's round; ack: the round of the frame acked
	ready    bool           // ack: from a learner whose hold is over
	lives    election.Lives // append: the lives of the learners being re-admitted (Leadership.Readmitting)
	through  uint64         // pull: the last id wanted
	until    time.Time      // handoff: the leader's deadline, after which neither end acts on it
}

func (m message) String() string {
	s := fmt.Sprintf("%s %s→%s e%d", m.kind, m.from, m.to, m.epoch)
	switch m.kind {
	case kPromise:
		s += fmt.Sprintf(" granted=%v promised=%d offer=%v", m.granted, m.promised, m.offer.Position)
	case kAppend, kPulled:
		if len(m.entries) > 0 {
			s += fmt.Sprintf(" ids %d..%d", m.entries[0].ID, m.entries[len(m.entries)-1].ID)
		}
	case kAck:
		s += fmt.Sprintf(" id %d", m.id)
	case kRefuse:
		s += fmt.Sprintf(" promised %d", m.promised)
	case kPull:
		s += fmt.Sprintf(" %d..%d", m.id, m.through)
	}
	return s
}

// switchover is the checker's record of one: the leader's log when it
// stopped leading must be the successor's, whatever the write concerns.
type switchover struct {
	from   string
	to     string // the standby that stood for the next epoch on the handoff
	epoch  uint64
	final  []entry // the leader's log when it stopped leading; nil while it leads
	lapsed bool    // the leader took writes again: nothing to check
}

// acked is a write some leader answered 201.
type acked struct {
	id, epoch uint64
	msg       string
	w         int
}

// stats say what a run exercised, so that a run that tested nothing
// fails instead of passing.
type stats struct {
	leaders, majorityAcks, repeats, rolledBack, copies, crashes, demotions, wipes, readmitted, switchovers, switched int
	wonOver                                                                                                          int // nodes that promised a candidate that lost, then followed the winner of that epoch
}

type sim struct {
	rng      *rand.Rand
	now      time.Time
	nodes    []*node
	byName   map[string]*node
	majority int
	net      []message
	group    map[string]int // partition: messages cross no group boundary
	writes   int
	batch    uint64   // entries per frame: followers catch up in steps
	mayWipe  bool     // one node may lose its data directory in this run
	unknown  []string // writes answered 503 (outcome unknown) or never answered: what clients retry

	// The checker's own record, kept apart from the nodes.
	written      map[uint64]map[uint64]string // epoch → id → message, as its leader appended it
	leaderOf     map[uint64]string
	leaderHist   map[uint64]epoch.History // the history each epoch's leader started with
	everPromised map[string]uint64        // the highest epoch each node told anyone it promised or took part in
	ghost        map[string][]entry       // every entry ever appended to each node's log
	committed    map[uint64]acked         // id → the write acknowledged with w ≥ majority there
	rbChecked    map[string]int
	switchovers  map[uint64]*switchover // the epoch a standby stood for at a leader's handoff
	handingOff   map[string]*switchover // leader → its switchover in progress
	violation    string
	trace        []string
	stats        stats
}

func newSim(seed uint64) *sim {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	size := []int{3, 3, 4, 5}[rng.IntN(4)] // small clusters meet rare interleavings more often
	masters := 2 + rng.IntN(size-1)        // 2..size master-capable
	s := newCluster(rng, size, masters, 1+rng.Uint64N(3))
	s.mayWipe = rng.IntN(4) == 0
	return s
}

// newCluster returns a cluster of size nodes, the first masters of them
// master-capable (named m0, m1, …; the others s2, s3, …), all empty.
func newCluster(rng *rand.Rand, size, masters int, batch uint64) *sim {
	s := &sim{
		rng: rng, batch: batch, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		byName: map[string]*node{}, majority: election.Majority(size), group: map[string]int{},
		written: map[uint64]map[uint64]string{}, leaderOf: map[uint64]string{},
		leaderHist: map[uint64]epoch.History{}, everPromised: map[string]uint64{},
		ghost: map[string][]entry{}, committed: map[uint64]acked{}, rbChecked: map[string]int{},
		switchovers: map[uint64]*switchover{}, handingOff: map[string]*switchover{},
	}
	for i := range size {
		n := &node{name: fmt.Sprintf("s%d", i), master: i < masters}
		if n.master {
			n.name = fmt.Sprintf("m%d", i)
		}
		s.nodes = append(s.nodes, n)
		s.byName[n.name] = n
		s.restart(n)
	}
	return s
}

func (s *sim) jitter() time.Duration {
	return simTimeout + time.Duration(s.rng.Int64N(int64(simTimeout/2)))
}

func (s *sim) send(m message) { s.net = append(s.net, m) }

func (s *sim) broadcast(from *node, m message) {
	for _, n := range s.nodes {
		if n != from {
			m.from, m.to = from.name, n.name
			s.send(m)
		}
	}
}

func (s *sim) fail(format string, args ...any) {
	if s.violation == "" {
		s.violation = fmt.Sprintf(format, args...)
	}
}

// persist writes n's promise to its disk; told records what others may
// now rely on.
func (s *sim) persist(n *node, p election.Promise) { n.disk.promise = p }

func (s *sim) told(n *node, e uint64) { s.everPromised[n.name] = max(s.everPromised[n.name], e) }

// setHist persists h as n's epoch history.
func (s *sim) setHist(n *node, h epoch.History) {
	n.disk.hist = h
	n.disk.changes++
}

func (s *sim) appendLog(n *node, e entry) {
	n.disk.changes++
	n.disk.log = append(n.disk.log, e)
	s.ghost[n.name] = append(s.ghost[n.name], e)
}

// truncate keeps n's log up to keep, moving the rest to its rollback
// files, and sets its history to the part of h its log backs.
func (s *sim) truncate(n *node, keep uint64, h epoch.History) {
	if keep < n.last() {
		n.disk.rollback = append(n.disk.rollback, n.disk.log[keep:]...)
		n.disk.log = slices.Clip(n.disk.log[:keep])
		s.stats.rolledBack++
	}
	s.setHist(n, epoch.Adopt(h, n.last()))
}

func (s *sim) restart(n *node) {
	n.up = true
	n.voter = election.NewVoter(n.disk.promise, n.learner)
	n.readmit = election.Readmission{Since: s.now, Hold: 3 * simTimeout}
	n.role, n.tally, n.copying, n.lead, n.next, n.waits, n.handoff = follower, nil, nil, nil, nil, nil, nil
	n.deadline = s.now.Add(s.jitter())
}

// wipe loses n's data directory: it comes back empty, as a learner.
// The acks its old process sent and no leader read yet are lost with its
// connections: a leader reads a follower's frames only from the
// connection of that follower's latest hello, so an old ack never
// follows a learner's (its promises may: a candidacy can still count
// one, and the learner's hold is there for that).
func (s *sim) wipe(n *node) {
	s.crash(n)
	s.net = slices.DeleteFunc(s.net, func(m message) bool { return m.from == n.name && m.kind == kAck })
	n.disk = disk{changes: n.disk.changes + 1}
	n.learner = true
	s.ghost[n.name], s.rbChecked[n.name] = nil, 0
	s.everPromised[n.name] = 0 // forgotten: the learner rules make that harmless
	s.stats.wipes++
	s.restart(n)
}

func (s *sim) crash(n *node) {
	s.endHandoff(n)
	n.up, n.role = false, follower
	n.voter, n.tally, n.copying, n.lead, n.next, n.waits, n.handoff = nil, nil, nil, nil, nil, nil, nil
	s.stats.crashes++
}

// stepDown makes n a follower with no leader; a leader's waiting writes
// are answered 503 (unknown outcome): dropped.
func (s *sim) stepDown(n *node) {
	s.endHandoff(n)
	if n.role == leader {
		s.stats.demotions++
		for _, w := range n.waits {
			s.unknown = append(s.unknown, w.msg)
		}
	}
	n.role, n.tally, n.copying, n.lead, n.next, n.waits, n.handoff = follower, nil, nil, nil, nil, nil, nil
	n.deadline = s.now.Add(s.jitter())
}

// stand starts a candidacy of n.
func (s *sim) stand(n *node) { s.standNeeding(n, "") }

// standNeeding starts a candidacy of n that cannot win without need's
// promise ("" for none).
func (s *sim) standNeeding(n *node, need string) {
	p, err := n.voter.Stand(n.name, n.disk.hist.Last())
	if err != nil {
		return
	}
	s.persist(n, p)
	s.told(n, p.Epoch)
	s.stepDown(n)
	n.role = candidate
	n.tally = election.NewTally(p.Epoch, n.name, n.offer(), len(s.nodes), s.now.Add(s.jitter()))
	n.tally.Need(need)
	s.broadcast(n, message{kind: kPrepare, epoch: p.Epoch})
}

func (s *sim) onPrepare(n *node, m message) {
	p, err := n.voter.Prepare(m.epoch, m.from)
	if err != nil {
		s.send(message{kind: kPromise, from: n.name, to: m.from, epoch: m.epoch, promised: n.voter.Promised().Epoch})
		return
	}
	s.persist(n, p)
	s.told(n, m.epoch)
	s.promisedAway(n, p)
	n.deadline = s.now.Add(s.jitter())
	s.send(message{kind: kPromise, from: n.name, to: m.from, epoch: m.epoch, granted: true, promised: p.Epoch, offer: n.offer()})
}

// promisedAway steps down a leader or candidate whose voter granted
// another node's prepare, as its Leadership or Tally decides, before the
// promise leaves.
func (s *sim) promisedAway(n *node, p election.Promise) {
	switch {
	case n.lead != nil:
		n.lead.Promised(p)
		if n.lead.Check(s.now) != nil {
			s.stepDown(n)
		}
	case n.tally != nil:
		n.tally.Promised(p)
		if n.tally.Over(s.now) {
			s.stepDown(n)
		}
	}
}

func (s *sim) onPromise(n *node, m message) {
	n.voter.See(m.promised)
	if n.role != candidate || n.tally.Epoch() != m.epoch {
		return
	}
	if m.granted {
		n.tally.Granted(m.from, m.epoch, m.offer)
	} else {
		n.tally.Refused(m.promised)
	}
	s.advance(n)
}

// advance moves a candidacy on: over, copying, or leading.
func (s *sim) advance(n *node) {
	if n.tally.Over(s.now) {
		s.stepDown(n)
		return
	}
	if !n.tally.Won() {
		return
	}
	if n.tally.MayLead(epoch.PositionOf(n.disk.hist, n.last()), s.now) {
		s.lead(n)
		return
	}
	c, ok := n.tally.Plan(n.offer())
	if !ok {
		return
	}
	s.truncate(n, c.Keep, c.History)
	n.copying = &c
	s.send(message{kind: kPull, from: n.name, to: c.Source, epoch: n.tally.Epoch(), id: n.last() + 1, through: c.Through})
}

func (s *sim) onPull(n *node, m message) {
	end := min(m.through, n.last(), m.id+s.batch-1)
	if m.id == 0 || m.id > end {
		return
	}
	s.send(message{kind: kPulled, from: n.name, to: m.from, epoch: m.epoch, entries: slices.Clone(n.disk.log[m.id-1 : end])})
}

func (s *sim) onPulled(n *node, m message) {
	if n.role != candidate || n.copying == nil || n.copying.Source != m.from || n.tally.Epoch() != m.epoch {
		return
	}
	for _, e := range m.entries {
		if e.ID <= n.last() {
			continue
		}
		if n.copying.Take(e.ID, e.Epoch, n.last()) != nil {
			s.stepDown(n)
			return
		}
		s.appendLog(n, e)
	}
	s.setHist(n, epoch.Adopt(n.copying.History, n.last()))
	s.stats.copies++
	s.advance(n)
}

// lead makes the candidate n the leader of its epoch.
func (s *sim) lead(n *node) {
	start := n.tally.Start(n.last())
	h, err := n.disk.hist.Append(start)
	if err != nil {
		s.fail("%s cannot start epoch %d: %v", n.name, start.Epoch, err)
		return
	}
	s.setHist(n, h)
	if other, ok := s.leaderOf[start.Epoch]; ok {
		s.fail("two leaders of epoch %d: %s and %s", start.Epoch, other, n.name)
	}
	s.leaderOf[start.Epoch], s.leaderHist[start.Epoch] = n.name, h
	s.stats.leaders++
	s.checkSwitchover(n, start.Epoch)
	n.role, n.tally, n.copying = leader, nil, nil
	n.lead = election.NewLeadership(n.name, start, len(s.nodes), simTimeout, s.now)
	n.next = map[string]uint64{}
	for _, f := range s.nodes {
		n.next[f.name] = start.FirstID
	}
	// Clients whose writes got a 503 retry them at once at the new
	// leader: the retries wait while the epoch start spreads.
	if s.rng.IntN(2) == 0 {
		s.retryAll(n)
	}
	s.replicate(n)
}

// retryAll retries, at a majority, every write of unknown outcome that
// leader n holds.
func (s *sim) retryAll(n *node) {
	unknown := map[string]bool{}
	for _, m := range s.unknown {
		unknown[m] = true
	}
	for _, e := range n.disk.log {
		if unknown[e.Msg] {
			n.waits = append(n.waits, wait{id: e.ID, w: s.majority, msg: e.Msg})
			s.stats.repeats++
		}
	}
}

func (s *sim) replicate(n *node) {
	for _, f := range s.nodes {
		if f == n {
			continue
		}
		from := n.next[f.name]
		end := min(n.last(), from+s.batch-1)
		var entries []entry
		if from >= 1 && from <= end {
			entries = slices.Clone(n.disk.log[from-1 : end])
		}
		s.send(message{kind: kAppend, from: n.name, to: f.name, epoch: n.lead.Epoch(), hist: n.disk.hist, entries: entries,
			quorum: n.lead.ReadmitID(f.name), fresh: n.lead.Confirmed(f.name), round: n.lead.Round(), lives: n.lead.Readmitting()})
	}
}

func (s *sim) onAppend(n *node, m message) {
	before := n.voter.Promised()
	p, err := n.voter.Accept(m.epoch, m.from)
	if err == nil && before.Epoch == m.epoch && before.To != "" && before.To != m.from {
		s.stats.wonOver++
	}
	if err != nil {
		s.send(message{kind: kRefuse, from: n.name, to: m.from, epoch: m.epoch, promised: n.voter.Promised().Epoch})
		return
	}
	if m.epoch < s.everPromised[n.name] && !n.learner {
		s.fail("%s accepted a leader of epoch %d after promising %d", n.name, m.epoch, s.everPromised[n.name])
	}
	s.persist(n, p)
	s.told(n, m.epoch)
	if n.role != follower {
		s.stepDown(n)
	}
	n.deadline = s.now.Add(s.jitter())
	keep := epoch.Diverge(m.hist, epoch.Open, n.disk.hist, n.last())
	s.truncate(n, keep, m.hist)
	for _, e := range m.entries {
		if e.ID == n.last()+1 {
			s.appendLog(n, e)
		}
	}
	s.setHist(n, epoch.Adopt(m.hist, n.last()))
	if n.disk.lives == nil {
		n.disk.lives = election.Lives{}
	}
	n.disk.lives.Merge(m.lives) // persisted before the ack echoes the round
	if n.learner && n.readmit.Ready(s.now, n.last(), m.quorum, m.hist[len(m.hist)-1].FirstID-1, m.fresh) {
		n.learner = false
		n.disk.life = m.lives[n.name]
		s.persist(n, n.voter.Readmit(election.Promise{Epoch: m.epoch, To: m.from}))
		s.told(n, m.epoch)
		s.stats.readmitted++
		s.logf("readmit %s", n.name)
	}
	s.send(message{kind: kAck, from: n.name, to: m.from, epoch: m.epoch, id: n.last(), round: m.round,
		learner: n.learner, ready: n.learner && n.readmit.HoldOver(s.now)})
	s.tryHandoff(n)
}

func (s *sim) onAck(n *node, m message) {
	if n.role != leader || n.lead.Epoch() != m.epoch {
		return
	}
	n.next[m.from] = m.id + 1
	if m.learner { // a learner's ack counts toward nothing
		n.lead.Learner(m.from)
		if m.ready {
			n.lead.LearnerReady(m.from)
			// The leader is in the majority that confirms the learner:
			// it persists the new life before its frames carry it.
			if n.disk.lives == nil {
				n.disk.lives = election.Lives{}
			}
			n.disk.lives.Merge(n.lead.Readmitting())
		}
		return
	}
	n.lead.Ack(m.from, m.id, s.now)
	n.lead.Echo(m.from, m.round)
	s.settle(n)
}

func (s *sim) onRefuse(n *node, m message) {
	n.voter.See(m.promised)
	if n.role != leader {
		return
	}
	n.lead.SawEpoch(m.promised)
	if n.lead.Check(s.now) != nil {
		s.stepDown(n)
	}
}

// settle answers the waiting writes the leadership says may be answered.
func (s *sim) settle(n *node) {
	left := n.waits[:0]
	for _, w := range n.waits {
		if !n.lead.Acknowledged(w.id, w.w) {
			left = append(left, w)
			continue
		}
		if e := n.lead.Epoch(); e < s.everPromised[n.name] {
			s.fail("%s acknowledged in epoch %d after promising %d", n.name, e, s.everPromised[n.name])
		}
		if got := n.disk.log[w.id-1].Msg; got != w.msg {
			s.fail("%s acknowledged %q at id %d, which holds %q", n.name, w.msg, w.id, got)
		}
		if w.w >= s.majority {
			a := acked{id: w.id, epoch: n.lead.Epoch(), msg: w.msg, w: w.w}
			if prev, ok := s.committed[w.id]; ok && prev.msg != w.msg {
				s.fail("id %d acknowledged at a majority twice: %q (epoch %d) and %q (epoch %d)", w.id, prev.msg, prev.epoch, w.msg, a.epoch)
			}
			if _, ok := s.committed[w.id]; !ok {
				s.committed[w.id] = a
			}
			s.stats.majorityAcks++
		}
	}
	n.waits = left
}

func (s *sim) write(n *node, w int) {
	if n.handoff != nil {
		return // 503: switching over
	}
	if e := n.lead.Epoch(); e < s.everPromised[n.name] {
		s.fail("%s appended in epoch %d after promising %d", n.name, e, s.everPromised[n.name])
	}
	s.writes++
	e := entry{ID: n.last() + 1, Epoch: n.lead.Epoch(), Msg: fmt.Sprintf("w%d", s.writes)}
	if s.written[e.Epoch] == nil {
		s.written[e.Epoch] = map[uint64]string{}
	}
	if prev, ok := s.written[e.Epoch][e.ID]; ok {
		s.fail("the leader of epoch %d wrote id %d twice: %q and %q", e.Epoch, e.ID, prev, e.Msg)
	}
	s.written[e.Epoch][e.ID] = e.Msg
	s.appendLog(n, e)
	n.lead.Ack(n.name, e.ID, s.now)
	n.waits = append(n.waits, wait{id: e.ID, w: w, msg: e.Msg})
	if w == 1 {
		s.unknown = append(s.unknown, e.Msg)
	}
	s.settle(n)
	s.replicate(n)
}

// repeat is an Idempotency-Key retry, at a majority, of a write whose
// outcome its client did not learn (its leader was deposed while it
// waited, or it was a w=1 write that the client retries for safety): the
// leader answers it, once it may, if it holds the write.
func (s *sim) repeat(n *node) {
	if n.handoff != nil {
		return
	}
	if len(s.unknown) == 0 {
		return
	}
	msg := s.unknown[s.rng.IntN(len(s.unknown))]
	for _, e := range n.disk.log {
		if e.Msg == msg {
			n.waits = append(n.waits, wait{id: e.ID, w: s.majority, msg: e.Msg})
			s.stats.repeats++
			s.settle(n)
			return
		}
	}
}

func (s *sim) tick() {
	s.logf("tick")
	s.now = s.now.Add(time.Duration(200+s.rng.IntN(1300)) * time.Millisecond)
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		switch n.role {
		case leader:
			if n.lead.Check(s.now) != nil {
				s.stepDown(n)
				continue
			}
			if n.handoff != nil && n.handoff.Lapsed(s.now) {
				s.handingOff[n.name].lapsed = true
				delete(s.handingOff, n.name)
				n.handoff = nil
			}
			s.replicate(n)
		case candidate:
			s.broadcast(n, message{kind: kPrepare, epoch: n.tally.Epoch()}) // answers may have been lost
			s.advance(n)
		case follower:
			s.tryHandoff(n)
			if n.role == follower && n.master && s.now.After(n.deadline) {
				s.stand(n)
			}
		}
	}
}

func (s *sim) deliver(i int, keep bool) {
	m := s.net[i]
	if !keep {
		s.net = slices.Delete(s.net, i, i+1)
	}
	n := s.byName[m.to]
	if !n.up || s.group[m.from] != s.group[m.to] {
		return
	}
	s.logf("deliver %v", m)
	switch m.kind {
	case kPrepare:
		s.onPrepare(n, m)
	case kPromise:
		s.onPromise(n, m)
	case kAppend:
		s.onAppend(n, m)
	case kAck:
		s.onAck(n, m)
	case kRefuse:
		s.onRefuse(n, m)
	case kPull:
		s.onPull(n, m)
	case kPulled:
		s.onPulled(n, m)
	case kHandoff:
		s.onHandoff(n, m)
	}
}

func (s *sim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%8.1fs ", s.now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Seconds())+fmt.Sprintf(format, args...))
	if len(s.trace) > 60 {
		s.trace = s.trace[len(s.trace)-60:]
	}
}

func (s *sim) pick(ok func(*node) bool) *node {
	var c []*node
	for _, n := range s.nodes {
		if ok(n) {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[s.rng.IntN(len(c))]
}

// actions are what the generator picks from at each step, with their
// weights in thousandths. Delivering in any order is how the network
// delays and reorders.
var actions = []struct {
	weight int
	do     func(*sim)
}{
	{610, (*sim).deliverOne},
	{10, (*sim).duplicateOne},
	{70, (*sim).dropOne},
	{60, (*sim).tick},
	{120, (*sim).clientWrite},
	{30, (*sim).clientRetry},
	{10, (*sim).crashOne},
	{30, (*sim).restartOne},
	{15, (*sim).partition},
	{15, (*sim).heal},
	{5, (*sim).wipeOne},
	{5, (*sim).switchover},
	{20, (*sim).promote},
}

// step takes one step chosen by the seeded generator.
func (s *sim) step() {
	r := s.rng.IntN(1000)
	for _, a := range actions {
		if r < a.weight {
			a.do(s)
			return
		}
		r -= a.weight
	}
}

func (s *sim) leading(n *node) bool { return n.up && n.role == leader }

func (s *sim) deliverOne() {
	if len(s.net) > 0 {
		s.deliver(s.rng.IntN(len(s.net)), false)
	}
}

func (s *sim) duplicateOne() {
	if len(s.net) > 0 {
		s.deliver(s.rng.IntN(len(s.net)), true)
	}
}

func (s *sim) dropOne() {
	if len(s.net) > 0 {
		i := s.rng.IntN(len(s.net))
		s.logf("drop %v", s.net[i])
		s.net = slices.Delete(s.net, i, i+1)
	}
}

func (s *sim) clientWrite() {
	if n := s.pick(s.leading); n != nil {
		w := 1
		if s.rng.IntN(2) == 0 {
			w = s.majority
		}
		s.logf("write at %s w=%d", n.name, w)
		s.write(n, w)
	}
}

func (s *sim) clientRetry() {
	if n := s.pick(s.leading); n != nil {
		s.logf("repeat at %s", n.name)
		s.repeat(n)
	}
}

// crashOne crashes a node; half the crashes hit a leader, if there is
// one: new leaders that die before their epoch start spreads are what
// Figure 8 is made of.
func (s *sim) crashOne() {
	n := s.pick(s.leading)
	if n == nil || s.rng.IntN(2) == 0 {
		n = s.pick(func(n *node) bool { return n.up })
	}
	if n != nil {
		s.logf("crash %s", n.name)
		s.crash(n)
	}
}

func (s *sim) restartOne() {
	if n := s.pick(func(n *node) bool { return !n.up }); n != nil {
		s.logf("restart %s", n.name)
		s.restart(n)
	}
}

func (s *sim) partition() {
	for _, n := range s.nodes {
		s.group[n.name] = s.rng.IntN(2)
	}
	s.logf("partition %v", s.group)
}

func (s *sim) heal() {
	clear(s.group)
	s.logf("heal")
}

func (s *sim) wipeOne() {
	if n := s.pick(func(n *node) bool { return !n.learner }); n != nil && s.mayWipe && s.stats.wipes == 0 {
		s.logf("wipe %s", n.name)
		s.wipe(n)
	}
}

func (s *sim) switchover() {
	if n := s.pick(s.leading); n != nil && n.handoff == nil {
		if to := s.pick(func(x *node) bool { return x.up && x.master && x != n }); to != nil {
			s.logf("switchover %s → %s", n.name, to.name)
			s.startHandoff(n, to)
		}
	}
}

func (s *sim) promote() {
	if n := s.pick(func(n *node) bool { return n.up && n.master && n.role != leader }); n != nil {
		s.logf("promote %s", n.name)
		s.stand(n)
	}
}

// startHandoff is POST /promote on standby to while leader n is
// reachable: n stops taking writes (waiting ones get a 503) and tells it.
func (s *sim) startHandoff(n, to *node) {
	n.handoff = &election.Handoff{From: n.name, To: to.name, Epoch: n.lead.Epoch(), LastID: n.last(), Deadline: s.now.Add(s.jitter())}
	for _, w := range n.waits {
		s.unknown = append(s.unknown, w.msg)
	}
	n.waits = nil
	s.handingOff[n.name] = &switchover{from: n.name, epoch: n.lead.Epoch()}
	s.stats.switchovers++
	s.send(message{kind: kHandoff, from: n.name, to: to.name, epoch: n.lead.Epoch(), id: n.last(), until: n.handoff.Deadline})
}

func (s *sim) onHandoff(n *node, m message) {
	if n.role != follower {
		return
	}
	h := election.Handoff{From: m.from, To: n.name, Epoch: m.epoch, LastID: m.id, Deadline: m.until}
	if n.handoff == nil || h.Replaces(*n.handoff) {
		n.handoff = &h
	}
	s.tryHandoff(n)
}

// tryHandoff makes the standby n stand once it holds its leader's last id.
func (s *sim) tryHandoff(n *node) {
	h := n.handoff
	if h != nil && h.Lapsed(s.now) {
		n.handoff = nil
		return
	}
	if h == nil || n.role != follower || !h.Ready(n.disk.hist.Last(), n.last(), s.now) {
		return
	}
	leader := h.From
	s.standNeeding(n, h.From)
	if n.role == candidate {
		if rec := s.handingOff[leader]; rec != nil && rec.epoch == h.Epoch {
			rec.to = n.name
			s.switchovers[n.tally.Epoch()] = rec
		}
	}
}

// endHandoff records the log of a leader that stops leading during its
// switchover.
func (s *sim) endHandoff(n *node) {
	if rec := s.handingOff[n.name]; rec != nil && n.role == leader {
		rec.final = slices.Clone(n.disk.log)
		delete(s.handingOff, n.name)
	}
}
