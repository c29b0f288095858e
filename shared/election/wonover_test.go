package election_test

import "testing"

// The scenarios below are the red-team review's of Voter.Accept's rule
// that a node that promised an epoch to a candidate that lost it follows
// the winner of that epoch (docs/FAILOVER.md, "As wired"). Each checks
// every invariant after every step of its history; each stops at a
// "went astray" check with the rule before it (the winner refused).

// TestRedTeam_WonOverVotersCarryTheEpochStartAndTheWrites: m0 leads
// epoch 1. m1 and m2 both stand for epoch 2. The acks that begin m2's
// epoch 2 and acknowledge w3 at a majority come only from nodes that
// promised epoch 2 to the loser m1 (m1 itself and s3) and followed m2
// once it won. s3 crashed while promised to m1 and granted m1's
// repeated prepare again; after it followed m2 (and restarted, losing
// the volatile followed), m1's prepare of epoch 2 is refused, and a late
// prepare of m2's is granted to m2, which leads already and ignores it.
// m2 then crashes; m0 and s4, which promised epoch 2 to m2 but never got
// its frames, elect m0 for epoch 3 with s3: m0 must copy the start of
// epoch 2 and w3 from s3.
func TestRedTeam_WonOverVotersCarryTheEpochStartAndTheWrites(t *testing.T) {
	c := newScenario(t, 5, 3, 1)
	m0, m1, m2, s3 := c.byName["m0"], c.byName["m1"], c.byName["m2"], c.byName["s3"]

	c.elect("m0", "m1", "m2", "s3", "s4")
	c.write(m0, 3) // w1, acknowledged by all
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()
	c.write(m0, 1) // w2, on m0 only
	c.dropAll()
	if len(c.committed) != 1 {
		t.Fatalf("the script went astray: committed %v", c.committed)
	}

	// m1 stands for 2 and only s3 promises it (the reply is lost).
	c.stand(m1)
	e := m1.tally.Epoch()
	c.deliver(kPrepare, "m1", "s3")
	c.dropAll()
	// s3 restarts still promised to m1; m1 asks again: granted again.
	c.crash(s3)
	c.restart(s3)
	c.send(message{kind: kPrepare, from: "m1", to: "s3", epoch: e})
	c.deliver(kPrepare, "m1", "s3")
	if p := s3.disk.promise; p.Epoch != e || p.To != "m1" {
		t.Fatalf("the script went astray: s3 promised %v", p)
	}
	lateM1 := c.takeInFlight(kPromise, "s3", "m1")
	c.dropAll()

	// m2 stands for the same epoch, m0 (leader of 1) and s4 promise it.
	c.stand(m2)
	if m2.tally.Epoch() != e {
		t.Fatalf("the script went astray: m2 stands for %d, m1 for %d", m2.tally.Epoch(), e)
	}
	lateM2 := message{kind: kPrepare, from: "m2", to: "s3", epoch: e}
	for _, v := range []string{"m0", "s4"} {
		c.deliver(kPrepare, "m2", v)
		c.deliver(kPromise, v, "m2")
	}
	c.deliver(kPull, "m2", "m0")
	c.deliver(kPulled, "m0", "m2")
	if m2.role != leader {
		t.Fatalf("the script went astray: m2 %v", m2.role)
	}
	c.dropAll()

	// Only the won-over nodes (s3, and the loser m1 itself) get m2's
	// frames: their acks begin the epoch and acknowledge w3 at w=3
	// (m2's log: w1, w2 copied from m0, then w3 at id 3).
	for range 4 {
		c.replicate(m2)
		c.deliver(kAppend, "m2", "s3")
		c.deliver(kAppend, "m2", "m1")
		c.deliver(kAck, "", "m2")
		c.dropAll()
	}
	if !m2.lead.Begun() || m1.role != follower || m1.disk.promise.To != "m2" || s3.disk.promise.To != "m2" {
		t.Fatalf("the script went astray: begun=%v m1 %v %v s3 %v", m2.lead.Begun(), m1.role, m1.disk.promise, s3.disk.promise)
	}
	c.write(m2, 3) // w3
	c.deliver(kAppend, "m2", "s3")
	c.deliver(kAppend, "m2", "m1")
	c.deliver(kAck, "", "m2")
	c.dropAll()
	if len(c.committed) != 2 {
		t.Fatalf("the script went astray: committed %v", c.committed)
	}

	// s3 restarts (followed is volatile): the loser's prepare is refused,
	// the winner's late one granted to the winner only; the loser's late
	// promise reaches a node no longer standing.
	c.crash(s3)
	c.restart(s3)
	c.send(message{kind: kPrepare, from: "m1", to: "s3", epoch: e})
	c.deliver(kPrepare, "m1", "s3")
	if p := s3.disk.promise; p.Epoch != e || p.To != "m2" {
		t.Fatalf("s3's promise is %v after refusing m1", p)
	}
	c.send(lateM2)
	c.deliver(kPrepare, "m2", "s3")
	c.deliver(kPromise, "s3", "m2")
	c.send(lateM1)
	c.deliver(kPromise, "s3", "m1")
	if m1.role != follower || m2.role != leader {
		t.Fatalf("m1 %v, m2 %v", m1.role, m2.role)
	}
	c.dropAll()

	// m2 dies; m0 stands with s4 (neither got epoch 2's frames) and s3.
	c.crash(m2)
	c.elect("m0", "s4", "s3")
	for range 6 {
		c.deliver(kPull, "m0", "")
		c.deliver(kPulled, "", "m0")
	}
	c.check()
	if m0.role != leader {
		t.Fatalf("m0 did not lead: %v (last %d)", m0.role, m0.last())
	}
	if m0.last() < 3 || m0.disk.log[2].Msg != "w3" {
		t.Fatalf("m0 leads with %v", m0.disk.log)
	}
}

// TestRedTeam_LosingCandidateInTheConfirmingMajorityOfItsForgottenPromise:
// s2 promises epoch 2 (m0 leads epoch 1) to m1 and loses its data
// directory; m0 wins that same epoch with s3 and s4. m1, won over, takes
// m0's frames of the epoch it lost, so the confirming majority of s2's
// readmission is M = {m0, m1, s3}, which meets m1's promise majority
// without s2 only at m1 (docs/FAILOVER.md, "Wiped nodes and learners",
// counts that case). Safety holds: m1 lost that epoch (m0 won it with a
// majority that did not count s2), and taking m0's frames ended m1's
// candidacy. The re-admitted s2 promises the epoch to m0 only; m1's late
// prepare of it is refused; m1 then leads the next epoch holding every
// write.
func TestRedTeam_LosingCandidateInTheConfirmingMajorityOfItsForgottenPromise(t *testing.T) {
	c := newScenario(t, 5, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2", "s3", "s4")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.stand(m1)
	e := m1.tally.Epoch()
	c.deliver(kPrepare, "m1", "s2")
	c.deliver(kPromise, "s2", "m1")
	c.dropAll()
	c.wipe(s2)
	wiped := c.now

	c.elect("m0", "s3", "s4")
	if m0.role != leader || m0.lead.Epoch() != e {
		t.Fatalf("the script went astray: m0 %v", m0.role)
	}
	c.dropAll()

	// m0's rounds reach everyone but s4: the loser m1 is won over and
	// echoes them, so it is in the confirming majority.
	round := func() {
		c.replicate(m0)
		c.net = dropTo(c.net, "s4")
		c.deliver(kAppend, "m0", "")
		c.deliver(kAck, "", "m0")
		c.dropAll()
	}
	for !c.now.After(wiped.Add(3*simTimeout + simTimeout/2)) {
		c.tick()
		c.dropAll()
		round()
		if m0.role != leader {
			t.Fatalf("the script went astray: m0 %v", m0.role)
		}
	}
	if m1.role != follower || m1.disk.promise.To != "m0" || m1.disk.promise.Epoch != e {
		t.Fatalf("the script went astray: m1 %v promised %v", m1.role, m1.disk.promise)
	}
	c.write(m0, 3) // acknowledged by m0, m1, s3 (s2 is still a learner)
	c.deliver(kAppend, "m0", "m1")
	c.deliver(kAppend, "m0", "s3")
	c.deliver(kAck, "", "m0")
	c.dropAll()
	round() // s2 is ready; m1 and s3 echo the new round
	round()
	round()
	if s2.learner {
		t.Fatalf("the script went astray: s2 is still a learner (holds %d)", s2.last())
	}
	if p := s2.disk.promise; p.Epoch != e || p.To != "m0" {
		t.Fatalf("s2 re-admitted promising %v", p)
	}
	c.send(message{kind: kPrepare, from: "m1", to: "s2", epoch: e})
	c.deliver(kPrepare, "m1", "s2")
	c.deliver(kPromise, "s2", "m1")
	if s2.disk.promise.To != "m0" {
		t.Fatalf("s2 promised epoch %d again: %v", e, s2.disk.promise)
	}
	c.crash(m0)
	c.elect("m1", "s2", "s4")
	for range 4 {
		c.deliver(kPull, "m1", "")
		c.deliver(kPulled, "", "m1")
	}
	c.check()
	if m1.role != leader || len(c.committed) != 2 {
		t.Fatalf("m1 %v, committed %v", m1.role, c.committed)
	}
}

// dropTo is net without the messages to one node.
func dropTo(net []message, to string) []message {
	out := net[:0]
	for _, m := range net {
		if m.to != to {
			out = append(out, m)
		}
	}
	return out
}
