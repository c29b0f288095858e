package election_test

import (
	"slices"
	"testing"
)

// Red-team scenarios: histories built to break the protocol of
// docs/FAILOVER.md. A TestRedTeam_… that fails shows a real violation;
// one that passes is a regression scenario the implementation defeats.

// takeInFlight removes from the network the first message of kind k from
// → to and returns it, so that a script can deliver it much later (a
// slow network, or a receiver paused with the frame in its socket).
func (c *scenario) takeInFlight(k kind, from, to string) message {
	c.t.Helper()
	for i, m := range c.net {
		if m.kind == k && m.from == from && m.to == to {
			c.net = slices.Delete(c.net, i, i+1)
			return m
		}
	}
	c.t.Fatalf("no %v %s→%s in flight", k, from, to)
	return message{}
}

// TestRedTeam_StaleQuorumIDReadmitsALearnerThatForgotAWinningPromise:
// readmission condition (a) is meant to prove that the leader a learner
// follows "was current after the wipe", but Leadership.QuorumWithout
// counts acks received at any time in the leader's epoch, and the frame
// that carries it may be read long after it was sent. Condition (b), the
// hold, only outlasts a *pending* candidacy; here the forgotten promise
// already won an epoch.
//
//  1. m0 leads epoch 1; w1 is acked by all three (m0's ack table: m1@1).
//  2. m0 is cut off. m1 leads epoch 2 with s2's promise; w2 at id 2 is
//     acknowledged at w=2 (m1, s2).
//  3. m1 crashes; s2 loses its data directory and comes back a learner.
//  4. s2 reaches m0, which still believes it leads epoch 1 (it has not
//     yet been silent for FAILOVER_TIMEOUT). m0 sends s2 w1 with
//     quorumId 1 — computed from m1's ack of step 1, before m1 stood.
//  5. That frame is read by s2 only after 3 × FAILOVER_TIMEOUT (network
//     delay, or s2 SIGSTOPped with it in its socket). Meanwhile m0 has
//     demoted itself for silence. s2's hold is over, it holds quorumId,
//     quorumId ≥ the leader's start: s2 is re-admitted promising epoch 1.
//  6. m0 stands; s2 grants (its promise of epoch 2 to m1 is forgotten);
//     m0 leads with {m0, s2}, neither of which holds w2.
//
// w2, acknowledged at a majority, is not in the log of a later leader.
// Were m0 to pick epoch 2 (it does when it never stood meanwhile), there
// would be two leaders of epoch 2. Without the delay, the document's
// own timing still needs the old leader's demotion for silence (which it
// says safety never rests on) and frames read within ~2 × FAILOVER_TIMEOUT
// of being sent. The fix: quorumId counts only acks the leader received
// after the learner told it its hold was over (a fresh round), so a
// leader whose successor won with the forgotten promise cannot produce it.
func TestRedTeam_StaleQuorumIDReadmitsALearnerThatForgotAWinningPromise(t *testing.T) {
	c := newScenario(t, 3, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	// 1.
	c.elect("m0", "m1", "s2")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	if len(c.committed) != 1 {
		t.Fatalf("w1 was not acknowledged: %v", c.committed)
	}
	c.dropAll()

	// 2. m0 hears nothing of epoch 2.
	c.elect("m1", "s2")
	if m1.role != leader {
		t.Fatalf("m1 did not lead: %v", m1.role)
	}
	c.deliver(kAppend, "m1", "s2")
	c.deliver(kAck, "s2", "m1")
	c.dropAll()
	c.write(m1, 2)
	c.deliver(kAppend, "m1", "s2")
	c.deliver(kAck, "s2", "m1")
	if a, ok := c.committed[2]; !ok || a.epoch != 2 {
		t.Fatalf("w2 was not acknowledged in epoch 2: %v", c.committed)
	}
	c.dropAll()

	// 3.
	c.crash(m1)
	c.wipe(s2)
	wiped := c.now

	// 4. The first frame tells m0 where s2 stands; the second carries w1
	// and quorumId 1.
	c.replicate(m0)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	c.dropAll()
	c.replicate(m0)
	late := c.takeInFlight(kAppend, "m0", "s2")
	c.dropAll()
	if late.quorum == 0 || len(late.entries) == 0 {
		t.Fatalf("the script went astray: quorum %d, %d entries", late.quorum, len(late.entries))
	}

	// 5. Time passes; m0 demotes itself for silence (and may stand in
	// vain: everything it sends is lost).
	for !c.now.After(wiped.Add(3*simTimeout + simTimeout/2)) {
		c.tick()
		c.dropAll()
	}
	if m0.role == leader {
		t.Fatalf("m0 still leads after %v of silence", c.now.Sub(wiped))
	}
	c.send(late)
	c.deliver(kAppend, "m0", "s2")
	c.dropAll()
	if s2.learner {
		t.Skip("s2 was not re-admitted by the stale quorumId: the attack is defeated")
	}

	// 6.
	c.elect("m0", "s2")
	c.check()
	if m0.role == leader {
		t.Fatalf("m0 leads epoch %d with the vote of a learner re-admitted by a stale quorumId, without w2", m0.lead.Epoch())
	}
}

// TestRedTeam_StaleQuorumIDElectsTwoLeadersOfOneEpoch is the same history
// as the test above, except that m0, once demoted, is down until s2 is
// re-admitted (so it never stood meanwhile): it then stands for epoch 2,
// which s2 already promised to m1 before its wipe. Two leaders of epoch
// 2, with different entries at id 2 in epoch 2 — log matching, and with
// it Diverge, no longer holds.
func TestRedTeam_StaleQuorumIDElectsTwoLeadersOfOneEpoch(t *testing.T) {
	c := newScenario(t, 3, 2, 3)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	c.elect("m0", "m1", "s2")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.elect("m1", "s2")
	c.deliver(kAppend, "m1", "s2")
	c.deliver(kAck, "s2", "m1")
	c.dropAll()
	c.write(m1, 2)
	c.deliver(kAppend, "m1", "s2")
	c.deliver(kAck, "s2", "m1")
	if a, ok := c.committed[2]; !ok || a.epoch != 2 {
		t.Fatalf("w2 was not acknowledged in epoch 2: %v", c.committed)
	}
	c.dropAll()

	c.crash(m1)
	c.wipe(s2)
	wiped := c.now

	c.replicate(m0)
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	c.dropAll()
	c.replicate(m0)
	late := c.takeInFlight(kAppend, "m0", "s2")
	c.dropAll()

	for !c.now.After(wiped.Add(3*simTimeout + simTimeout/2)) {
		c.tick()
		c.dropAll()
		if m0.up && m0.role != leader {
			c.crash(m0) // demoted for silence, then down for a while
		}
	}
	c.send(late)
	c.deliver(kAppend, "m0", "s2")
	c.dropAll()
	if s2.learner {
		t.Skip("s2 was not re-admitted by the stale quorumId: the attack is defeated")
	}

	c.restart(m0)
	c.elect("m0", "s2")
	c.check()
	if m0.role == leader {
		t.Fatalf("m0 leads epoch %d; m1 led it too", m0.lead.Epoch())
	}
}

// TestRedTeam_HandoffDoesNotLapseAfterTheLeaderPromisedItsSuccessor is a
// regression scenario (the implementation defeats it). The document says
// that during a switchover L is "leaderless" and answers prepares, and
// that if no successor shows within FAILOVER_TIMEOUT "the handoff lapses
// and L takes writes again". Read literally, L could promise e+1 to the
// standby, lapse while the standby's candidacy is still alive (its
// welcome delayed), and acknowledge a w=majority write in epoch e with
// followers that never saw the prepare; the successor, whose source is
// the log L offered, then rolls that write back. The simulation keeps L
// a leader that takes no writes and makes it step down when it grants a
// prepare, so it can never lapse afterwards.
func TestRedTeam_HandoffDoesNotLapseAfterTheLeaderPromisedItsSuccessor(t *testing.T) {
	c := newScenario(t, 5, 2, 3)
	m0, m1 := c.byName["m0"], c.byName["m1"]

	c.elect("m0", "m1", "s2", "s3", "s4")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()

	c.startHandoff(m0, m1)
	c.deliver(kHandoff, "m0", "m1")
	if m1.role != candidate {
		t.Fatalf("m1 did not stand at the handoff: %v", m1.role)
	}
	c.deliver(kPrepare, "m1", "m0")
	c.deliver(kPrepare, "m1", "s2")
	c.deliver(kPromise, "m0", "m1")
	c.deliver(kPromise, "s2", "m1")
	if m1.role != leader {
		t.Fatalf("m1 did not lead: %v", m1.role)
	}
	successor := m1.lead.Epoch()
	welcome := c.takeInFlight(kAppend, "m1", "s3") // delayed past m0's lapse
	c.dropAll()

	for range 20 { // well past the handoff's deadline
		c.tick()
		c.net = slices.DeleteFunc(c.net, func(m message) bool { return m.from == "m1" || m.to == "m1" })
		if m0.role == leader {
			c.write(m0, 3)
			c.deliver(kAppend, "m0", "")
			c.deliver(kAck, "", "m0")
		}
		c.check()
	}
	c.send(welcome)
	c.deliver(kAppend, "m1", "s3")
	c.check()
	for id, a := range c.committed {
		if a.epoch < successor && id > 1 {
			t.Fatalf("m0 acknowledged %q in epoch %d after promising %d", a.msg, a.epoch, successor)
		}
	}
}

// TestRedTeam_SourceWhoseLogChangesAfterItPromisedIsNotCopied is a
// regression scenario (the implementation defeats it). The document
// argues that the source P "has promised e, so no lower leader changes
// its log meanwhile; a higher one would doom this candidacy anyway" —
// but doomed is not harmless: if the candidate went on copying, it would
// adopt P's promised history over entries of P's new one, a log that
// mixes two histories. Here m1 copies from m0, m0 then follows m2 (epoch
// 4), which rolls back m0's tail and gives it y1 of epoch 2; the pull
// m1 sent before is answered only now. The candidate checks each pulled
// entry's epoch against the history the source promised with, and steps
// down.
func TestRedTeam_SourceWhoseLogChangesAfterItPromisedIsNotCopied(t *testing.T) {
	c := newScenario(t, 5, 3, 1)
	m0, m1, m2 := c.byName["m0"], c.byName["m1"], c.byName["m2"]

	c.elect("m0", "m1", "m2", "s3", "s4")
	c.write(m0, 1) // x1
	c.write(m0, 1) // x2
	c.dropAll()
	c.crash(m0)

	c.elect("m2", "m1", "s4") // epoch 2
	if m2.role != leader {
		t.Fatalf("m2 did not lead: %v", m2.role)
	}
	c.dropAll()
	c.write(m2, 1) // y1 at id 1, epoch 2
	c.deliver(kAppend, "m2", "s4")
	c.dropAll()

	c.restart(m0)
	c.elect("m1", "m0", "s3") // epoch 3: m0, with x1 x2, is the source
	if m1.role != candidate || m1.copying == nil || m1.copying.Source != "m0" {
		t.Fatalf("the script went astray: m1 %v copying %+v", m1.role, m1.copying)
	}
	pull := c.takeInFlight(kPull, "m1", "m0")
	c.dropAll()

	c.elect("m2", "m0", "s4") // refused by m0: it promised epoch 3 to m1
	c.elect("m2", "m0", "s4") // epoch 4
	if m2.role != leader {
		t.Fatalf("m2 did not lead: %v", m2.role)
	}
	for range 2 { // the first frame tells m2 where m0 stands
		c.deliver(kAppend, "m2", "m0")
		c.deliver(kAck, "m0", "m2")
		c.dropAll()
		c.replicate(m2)
	}
	c.deliver(kAppend, "m2", "m0")
	c.dropAll()
	if m0.last() != 1 || m0.disk.log[0].Msg != "w3" {
		t.Fatalf("the script went astray: m0 holds %v", m0.disk.log)
	}

	c.send(pull)
	c.deliver(kPull, "m1", "m0")
	c.deliver(kPulled, "m0", "m1")
	c.check()
	if m1.role != follower || m1.last() != 0 {
		t.Fatalf("m1 copied from a source whose log changed: %v, log %v", m1.role, m1.disk.log)
	}
}

// TestRedTeam_StaleHandoffStandsLongAfterItsLeaderLapsed replays two
// random runs (found with 2500 steps a seed; the default 800 stop short
// of them) that break the switchover promise, "nothing is lost, whatever
// each write's writeConcern" — not the w ≥ majority guarantee. The
// standby's side of a handoff never lapses (Handoff.Ready looks only at
// the epoch and LastID; the document gives the standby no deadline), so
// a standby that was behind when its switchover lapsed on the leader's
// side stands later, on the stale LastID, after the leader took writes
// again.
//
// Seed 12784 (3 nodes, no wipe): m1, leader of epoch 16, hands off to m0
// with LastID 25 while m0 holds 18. m1's handoff lapses; m1 takes writes
// again, to id 27, then starts a second switchover to m0 (LastID 27).
// Before that second handoff reaches m0, m0 holds 26 ≥ 25 and stands on
// the first one; it leads epoch 17 with s2's promise and without id 27.
//
// Seed 1197 (4 nodes): m1 hands off to m3, a learner that cannot stand
// yet (LastID 25); the handoff lapses, m1 writes on to w38 and starts a
// second switchover, to m0; m3, re-admitted 10 s after the handoff
// reached it and holding 33, stands on the stale handoff and leads epoch
// 17 with m0 and m2: w34..w38 are gone.
//
// In production the same happens to a FAILOVER=manual standby that was
// behind when its POST /promote lapsed: a switchover the operator saw
// fail fires by itself later. The fix: the standby's handoff lapses too
// (same deadline), and a newer handoff replaces an older one.
func TestRedTeam_StaleHandoffStandsLongAfterItsLeaderLapsed(t *testing.T) {
	for _, r := range []struct {
		seed  uint64
		steps int
	}{{12784, 1000}, {1197, 1500}} {
		if _, err := runSim(r.seed, r.steps); err != nil {
			t.Error(err)
		}
	}
}

// TestRedTeam_ReadmittedLearnerLacksWritesItHadAcked: readmission
// condition (a) is said to make the learner hold "every acknowledged
// write", but quorumId — what a majority *not counting the learner*
// holds — leaves out exactly the writes whose majority was the learner's
// own, forgotten, ack. A lagging follower keeps quorumId low.
//
//  1. m0 leads epoch 1; w1 reaches everyone. m1 then lags (it hears m0's
//     heartbeats but gets no entry: a slow link or disk, a long backlog).
//  2. w2..w4 are acknowledged at w=2 by m0 and s2.
//  3. s2 loses its data directory and comes back a learner. Over the
//     hold m0 keeps hearing m1, so it leads on; quorumId stays 1 (m1's).
//  4. After the hold s2 holds id 1 ≥ quorumId: it is re-admitted,
//     promising epoch 1, although it holds none of w2..w4.
//  5. m0 crashes before s2 has caught up. m1 leads epoch 2 with s2's
//     promise; neither offers w2..w4, acknowledged at a majority.
//
// The fix: the leader reports at least its Committed() id (which counts
// the learner's acks from before its wipe), not only QuorumWithout.
func TestRedTeam_ReadmittedLearnerLacksWritesItHadAcked(t *testing.T) {
	c := newScenario(t, 3, 2, 1)
	m0, m1, s2 := c.byName["m0"], c.byName["m1"], c.byName["s2"]

	// 1.
	c.elect("m0", "m1", "s2")
	c.write(m0, 3)
	c.deliver(kAppend, "m0", "")
	c.deliver(kAck, "", "m0")
	c.dropAll()
	// 2.
	for range 3 {
		c.write(m0, 2)
		c.deliver(kAppend, "m0", "s2")
		c.deliver(kAck, "s2", "m0")
		c.dropAll()
	}
	if len(c.committed) != 4 {
		t.Fatalf("the script went astray: acknowledged %v", c.committed)
	}

	// 3. m1 acks heartbeats (frames without entries: it lags); s2 learns
	// where m0 must start it from, then gets nothing during its hold.
	c.wipe(s2)
	wiped := c.now
	heartbeat := func() {
		c.replicate(m0)
		hb := c.takeInFlight(kAppend, "m0", "m1")
		hb.entries = nil
		c.send(hb)
		c.deliver(kAppend, "m0", "m1")
		c.deliver(kAck, "m1", "m0")
	}
	heartbeat()
	c.deliver(kAppend, "m0", "s2")
	c.deliver(kAck, "s2", "m0")
	c.dropAll()
	for !c.now.After(wiped.Add(3 * simTimeout)) {
		c.tick()
		c.dropAll()
		heartbeat()
		c.dropAll()
		if m0.role != leader {
			t.Fatalf("the script went astray: m0 stopped leading")
		}
	}

	// 4. One frame: s2 holds id 1, quorumId is 1.
	c.replicate(m0)
	c.deliver(kAppend, "m0", "s2")
	c.dropAll()
	if s2.learner {
		t.Skip("s2 was not re-admitted: the attack is defeated")
	}
	if s2.last() >= 4 {
		t.Fatalf("the script went astray: s2 holds %d", s2.last())
	}

	// 5.
	c.crash(m0)
	c.elect("m1", "s2")
	c.check()
	if m1.role == leader {
		t.Fatalf("m1 leads epoch %d without w2..w4", m1.lead.Epoch())
	}
}

// TestRedTeam_CandidateThatPromisesAHigherEpochStopsStanding is a
// regression scenario (the implementation defeats it). The document says
// that a *leader* granting a higher prepare stops leading before the
// promise leaves; it says nothing of a *candidate*. A candidate m1 (epoch
// 2) that grants m2's prepare for epoch 3 and then completes its own
// candidacy would lead epoch 2 with s3 and s4, acknowledge writes with
// them, while m2 leads epoch 3 with a promise majority {m2, m1, s4}
// whose only link to m1's epoch was m1's broken promise. The simulation
// steps a candidate down when it grants (onPrepare); the wiring must too.
func TestRedTeam_CandidateThatPromisesAHigherEpochStopsStanding(t *testing.T) {
	c := newScenario(t, 5, 3, 3)
	m1, m2 := c.byName["m1"], c.byName["m2"]

	c.elect("m0", "m1", "m2", "s3", "s4")
	c.dropAll()

	c.stand(m1) // epoch 2
	c.deliver(kPrepare, "m1", "m2")
	c.deliver(kPromise, "m2", "m1")
	first := c.takeInFlight(kPrepare, "m1", "s3")
	second := c.takeInFlight(kPrepare, "m1", "s4")
	c.dropAll()

	c.stand(m2) // epoch 3
	c.deliver(kPrepare, "m2", "m1")
	c.deliver(kPromise, "m1", "m2")
	c.dropAll()

	c.send(first)
	c.send(second)
	c.deliver(kPrepare, "m1", "")
	c.deliver(kPromise, "", "m1")
	c.check()
	if m1.role == leader {
		c.write(m1, 3)
		c.check()
		t.Fatalf("m1 leads epoch %d after promising epoch 3 to m2", m1.lead.Epoch())
	}
}
