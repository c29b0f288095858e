package election_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/replog/replog/shared/election"
)

// Scenarios drive the simulated cluster by hand, for the interleavings
// that random steps meet only rarely. The same checks run after every
// step.

// scenario is a cluster stepped by a script.
type scenario struct {
	t *testing.T
	*sim
}

func newScenario(t *testing.T, size, masters int, batch uint64) *scenario {
	return &scenario{t: t, sim: newCluster(rand.New(rand.NewPCG(1, 2)), size, masters, batch)}
}

// deliver delivers, in order, every message in flight from → to of kind
// k ("" matches any node), and those they cause, until none is left; then
// it checks the invariants.
func (c *scenario) deliver(k kind, from, to string) {
	c.t.Helper()
	for i := 0; i < len(c.net); {
		m := c.net[i]
		if m.kind != k || (from != "" && m.from != from) || (to != "" && m.to != to) {
			i++
			continue
		}
		c.sim.deliver(i, false)
		c.check()
		i = 0
	}
}

// dropAll loses every message in flight.
func (c *scenario) dropAll() { c.net = nil }

func (c *scenario) check() {
	c.t.Helper()
	if err := c.sim.check(); err != nil {
		c.t.Fatalf("%v\nnodes:\n%s", err, c.dump())
	}
}

// elect makes candidate stand and collect the promises of voters.
func (c *scenario) elect(candidate string, voters ...string) {
	c.t.Helper()
	c.stand(c.byName[candidate])
	for _, v := range voters {
		c.deliver(kPrepare, candidate, v)
		c.deliver(kPromise, v, candidate)
	}
	c.check()
}

// TestFigure8EntryOnMajorityIsNotAcknowledgedBeforeEpochStart is Raft's
// Figure 8 in replog's terms. m0 leads epoch 1 and appends x and y,
// which reach no one. m1 leads epoch 2 with s2's promise and appends z,
// which reaches no one. m0 leads epoch 3 with s2's promise (s2 refused
// it epoch 2 first), and s2 copies x — but not yet y, so s2 has not
// persisted epoch 3's start. A client retries x (its Idempotency-Key) at
// w=2: m0 and s2 hold it. If m0 answered now, and crashed, m1 (last epoch
// 2) is more up to date than s2 (last epoch 1), leads epoch 4 with s2's
// promise, and x is gone. The leader must wait for its epoch start.
func TestFigure8EntryOnMajorityIsNotAcknowledgedBeforeEpochStart(t *testing.T) {
	c := newScenario(t, 3, 2, 1)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2")
	c.write(m0, 1) // x at id 1
	c.write(m0, 1) // y at id 2
	c.dropAll()
	c.crash(m0)

	c.elect("m1", "s2")
	if m1.role != leader {
		t.Fatalf("m1 did not lead: %v", m1.role)
	}
	c.write(m1, 1) // z at id 1, epoch 2
	c.dropAll()
	c.crash(m1)

	c.restart(m0)
	c.elect("m0", "s2") // refused: s2 promised m1's epoch
	c.elect("m0", "s2")
	if m0.role != leader {
		t.Fatalf("m0 did not lead: %v", m0.role)
	}
	c.dropAll()
	// s2 learns where it stands, then gets x only (one entry a frame).
	c.replicate(m0)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	c.dropAll()
	c.replicate(m0)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	c.dropAll()
	if s2.last() != 1 || m0.lead.Begun() {
		t.Fatalf("the script went astray: s2 holds up to %d, begun=%v", s2.last(), m0.lead.Begun())
	}
	c.unknown = []string{m0.disk.log[0].Msg}
	c.repeat(m0)
	c.check()

	c.crash(m0)
	c.restart(m1)
	c.elect("m1", "s2") // refused: s2 promised m0's epoch
	c.elect("m1", "s2")
	if m1.role != leader {
		t.Fatalf("m1 did not lead epoch 4: %v", m1.role)
	}
	c.check()
	if len(c.committed) != 0 {
		t.Fatalf("acknowledged %v before the epoch start was on a majority", c.committed)
	}
}

// TestWipedNodeCannotHelpADeposedLeaderAcknowledge: m1 leads epoch 2
// with s2's promise while m0, leader of epoch 1, is cut off. s2 loses its
// data directory and comes back having forgotten that promise; m0 reaches
// it. s2 may follow m0 to catch up, but its acks must not count: with
// them m0 would answer a w=2 write that m1, the real leader, never sees.
func TestWipedNodeCannotHelpADeposedLeaderAcknowledge(t *testing.T) {
	c := newScenario(t, 3, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2")
	c.replicate(m0)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.elect("m1", "s2") // m0 hears nothing of it
	if m1.role != leader || m0.role != leader {
		t.Fatalf("want two nodes that believe they lead: m0 %v, m1 %v", m0.role, m1.role)
	}
	c.dropAll()

	c.wipe(s2)
	c.write(m0, 2)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	if s2.last() != 1 {
		t.Fatalf("the wiped node did not follow the old leader: holds %d", s2.last())
	}
	c.check()
	if len(c.committed) != 0 {
		t.Fatalf("the deposed leader acknowledged %v with a wiped node's ack", c.committed)
	}
}

// TestWipedNodeDoesNotVote: s2 acked the write that m0 acknowledged at
// w=2, then lost its data directory. m1 never got the write. If s2 voted
// with its empty log, m1 would lead without it.
func TestWipedNodeDoesNotVote(t *testing.T) {
	c := newScenario(t, 3, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2")
	c.write(m0, 2)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	if len(c.committed) != 1 {
		t.Fatalf("the write was not acknowledged: %v", c.committed)
	}
	c.dropAll()
	c.crash(m0)
	c.wipe(s2)

	c.elect("m1", "s2")
	c.check()
	if m1.role == leader {
		t.Fatalf("m1 leads with a wiped node's vote")
	}
}

// TestReadmittedLearnerCannotLendAForgottenPromise: s2 promised epoch 2
// to m1, whose candidacy is still collecting, then lost its data
// directory. It catches up from m0, leader of epoch 1. Were it re-admitted
// at once, its ack would help m0 acknowledge a write at w=3 while m1
// still counts s2's forgotten promise: m1 then leads epoch 2 with s2 and
// s4, neither of which offers that write. The learner's hold outlasts
// any candidacy, so its ack does not count yet.
func TestReadmittedLearnerCannotLendAForgottenPromise(t *testing.T) {
	c := newScenario(t, 5, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2", "s3", "s4")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	if len(c.committed) != 1 {
		t.Fatalf("the first write was not acknowledged: %v", c.committed)
	}
	c.dropAll()

	c.stand(m1)
	c.deliver(kPrepare, "m1", "s2")
	c.deliver(kPromise, "s2", "m1")
	c.dropAll()
	c.wipe(s2)

	for range 2 { // the first frame tells m0 where s2 stands
		c.replicate(m0)
		c.deliver(kAppend, "m0", "s2")
		c.deliver(kAck, "s2", "m0")
		c.dropAll()
	}
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAppend, "m0", "s3")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.send(message{kind: kPrepare, from: "m1", to: "s4", epoch: m1.tally.Epoch()})
	c.deliver(kPrepare, "m1", "s4")
	c.deliver(kPromise, "s4", "m1")
	if m1.role != leader {
		t.Fatalf("m1 did not lead: %v", m1.role)
	}
	c.check()
	if len(c.committed) != 1 {
		t.Fatalf("acknowledged %v with a learner's ack", c.committed)
	}
}

// TestReadmittedLearnerHoldsWhatItsForgottenAcksAcknowledged is the
// red-team history of TestRedTeam_ReadmittedLearnerLacksWritesItHadAcked
// carried further: the learner's "ready" reaches the leader and the
// lagging m1 echoes the new round, so the readmission is confirmed by a
// fresh majority. What keeps s2 a learner is then ReadmitID alone: it
// counts s2's own acks from before its wipe (w2..w4), which a majority
// without s2 (m1 lags at 1) does not hold.
func TestReadmittedLearnerHoldsWhatItsForgottenAcksAcknowledged(t *testing.T) {
	c := newScenario(t, 3, 2, 1)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()
	for range 3 {
		c.write(m0, 2)
		c.deliver(kAppend, "m0", "s2")
		c.deliver(kAck, "s2", "m0")
		c.dropAll()
	}
	c.wipe(s2)
	wiped := c.now
	// frame delivers to each follower one frame of m0's, without its
	// entries once the follower holds w1: m1 and s2 both lag.
	frame := func() {
		c.replicate(m0)
		for _, to := range []string{"m1", "s2"} {
			f := c.takeInFlight(kAppend, "m0", to)
			if c.byName[to].last() >= 1 {
				f.entries = nil
			}
			c.send(f)
			c.deliver(kAppend, "m0", to)
			c.deliver(kAck, to, "m0")
		}
		c.dropAll()
	}
	for !c.now.After(wiped.Add(3 * simTimeout)) {
		c.tick()
		c.dropAll()
		frame()
		if m0.role != leader {
			t.Fatalf("the script went astray: m0 stopped leading")
		}
	}
	frame() // s2 says it is ready; m1 echoes the new round
	if !m0.lead.Confirmed("s2") {
		t.Fatal("the script went astray: s2's readmission is not confirmed")
	}
	frame()
	if !s2.learner || s2.last() >= 4 {
		t.Fatalf("s2 re-admitted holding %d, without w2..w4", s2.last())
	}
	c.crash(m0)
	c.elect("m1", "s2")
	c.check()
	if m1.role == leader {
		t.Fatalf("m1 leads epoch %d without w2..w4", m1.lead.Epoch())
	}
}

// TestReadmittedLearnersForgottenPromiseDoesNotCountWhateverTheClocks:
// the learner's hold outlasts a candidacy only if clocks run at roughly
// the same rate. Here the candidate's clock is slow: m1's candidacy for
// epoch 2, which counted s4's promise before s4's wipe, is still open
// after s4's hold, its fresh round and its readmission. s4, re-admitted
// promising epoch 1, then promises epoch 2 to m2, which leads it with s3;
// m1 then asks m0, which grants. Were s4's old promise still counted, m1
// would lead epoch 2 too. m0's promise carries s4's new life (m0 was in
// the majority that confirmed it), so m1's tally drops the old promise.
func TestReadmittedLearnersForgottenPromiseDoesNotCountWhateverTheClocks(t *testing.T) {
	c := newScenario(t, 5, 3, 3)
	m0, m1, m2, s4 := c.byName["m0"], c.byName["m1"], c.byName["m2"], c.byName["s4"]

	c.elect("m0", "m1", "m2", "s3", "s4")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.stand(m1)
	// A slow clock: the candidacy outlives anything the others measure.
	m1.tally = election.NewTally(m1.tally.Epoch(), "m1", m1.offer(), 5, c.now.Add(time.Hour))
	c.deliver(kPrepare, "m1", "s4")
	c.deliver(kPromise, "s4", "m1")
	c.dropAll()
	c.wipe(s4)
	wiped := c.now

	round := func() {
		c.replicate(m0)
		c.net = slices.DeleteFunc(c.net, func(m message) bool { return m.to == "m1" })
		c.deliver(kAppend, "m0", "")
		c.deliver(kAck, "", "m0")
		c.dropAll()
	}
	for !c.now.After(wiped.Add(3*simTimeout + simTimeout/2)) {
		c.tick()
		c.dropAll()
		round()
		if m0.role != leader || m1.role != candidate {
			t.Fatalf("the script went astray: m0 %v, m1 %v", m0.role, m1.role)
		}
	}
	round() // s4 is ready, the others echo the new round
	round()
	if s4.learner {
		t.Fatalf("the script went astray: s4 is still a learner")
	}

	c.elect("m2", "s4", "s3")
	if m2.role != leader || m2.lead.Epoch() != m1.tally.Epoch() {
		t.Fatalf("the script went astray: m2 %v", m2.role)
	}
	c.dropAll()
	c.send(message{kind: kPrepare, from: "m1", to: "m0", epoch: m1.tally.Epoch()})
	c.deliver(kPrepare, "m1", "m0")
	c.deliver(kPromise, "m0", "m1")
	c.check()
	if m1.role == leader {
		t.Fatalf("m1 leads epoch %d with s4's forgotten promise; m2 leads it too", m1.lead.Epoch())
	}
}
