package follow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/poll"
	"github.com/replog/replog/shared/store"
)

// voters is the voter-set digest of the tests' cluster.
const voters = "V"

// ballotOf is a node's ballot over st's promise, as a binary makes it.
func ballotOf(st store.Store) *ballot.Ballot {
	p := st.Promise()
	return ballot.New(p.Promise, p.Learner, "s", st.SetPromise)
}

// startFailover runs a standby's client of st in failover mode against
// n nodes the test speaks for (each its own URL); edit changes the
// config before the client starts.
func startFailover(t *testing.T, st store.Store, n int, edit func(*Config)) (*Client, []*frametest.Master) {
	nodes := make([]*frametest.Master, n)
	urls := make([]string, n)
	for i := range nodes {
		nodes[i] = frametest.Listen(t)
		urls[i] = nodes[i].URL
	}
	cfg := Config{URLs: urls, Name: "s1", Role: frame.RoleStandby, Store: st, Log: zaptest.NewLogger(t),
		Ballot: ballotOf(st), Voters: voters,
		Options: Options{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}}
	if edit != nil {
		edit(&cfg)
	}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		for _, m := range nodes {
			m.Close()
		}
		cancel()
		<-done
	})
	return c, nodes
}

// leading is the welcome of leader name of epoch e, with history h and
// the keep it computed; it streams from keep+1 and holds up to last.
func leading(name string, e uint64, h []frame.EpochStart, keep, last uint64) frame.Frame {
	yes := true
	return frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, Leader: &yes, Name: name, Epoch: e, Epochs: h,
		Keep: keep, From: keep + 1, FirstID: 1, LastID: last, LogID: "L", Voters: voters, MaxFrameBytes: 1 << 20}
}

// standing is the welcome of a node that does not lead and promised
// epoch promised.
func standing(name string, promised uint64) frame.Frame {
	no := false
	return frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, Leader: &no, Name: name, Epoch: promised,
		Voters: voters, HeartbeatMs: 1000}
}

// starts is a history on the wire from (epoch, firstId) pairs.
func starts(pairs ...uint64) []frame.EpochStart {
	var h []frame.EpochStart
	for i := 0; i+1 < len(pairs); i += 2 {
		h = append(h, frame.EpochStart{Epoch: pairs[i], FirstID: pairs[i+1]})
	}
	return h
}

// appendOf is an append frame of ids, each "m<id>" of epoch e (1 left
// out, as a leader writes it).
func appendOf(e uint64, ids ...uint64) frame.Frame {
	f := frametest.Entries(ids...)
	if e > 1 {
		for i := range f.Entries {
			f.Entries[i].Epoch = e
		}
	}
	return f
}

func prepare(e uint64, candidate string) frame.Frame {
	return frame.Frame{Type: frame.TypePrepare, Epoch: e, Candidate: candidate}
}

// expectAck reads the next frame and fails unless it acks id in epoch e.
func expectAck(t *testing.T, p *frametest.Peer, id, e uint64) {
	t.Helper()
	if f := p.Expect(frame.TypeAck); f.ID != id || f.Epoch != e {
		t.Fatalf("ack %+v, want id %d of epoch %d", f, id, e)
	}
}

// expectRefusal reads an error frame naming want, then the close.
func expectRefusal(t *testing.T, p *frametest.Peer, want string) {
	t.Helper()
	f := p.Expect(frame.TypeError)
	if !strings.Contains(f.Error, want) {
		t.Fatalf("refused with %q, want it to say %q", f.Error, want)
	}
	if err := p.ExpectClosed(frametest.Timeout); err == nil {
		t.Fatal("no error from a closed connection")
	}
}

func TestFailoverHelloSaysPromiseAndHistory(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "a"}, store.Record{Message: "b"}, store.Record{Message: "c"})
	if err := st.SetHistory(epoch.History{{Epoch: 1, FirstID: 1}, {Epoch: 3, FirstID: 4}}); err != nil {
		t.Fatal(err)
	}
	_, _ = st.Append(store.Record{Message: "d", Epoch: 3}, store.Record{Message: "e", Epoch: 3})
	_ = st.SetPromise(store.Promise{Promise: election.Promise{Epoch: 4, To: "m2"}})
	_, nodes := startFailover(t, st, 1, nil)
	_, h := nodes[0].Accept()
	if h.Role != frame.RoleStandby || h.Voters != voters || h.Epoch != 4 || h.LastEpoch != 3 || h.LastID != 5 ||
		h.LogID != "L" || h.Learner || !slices.Equal(h.Epochs, starts(1, 1, 3, 4)) {
		t.Fatalf("hello %+v", h)
	}
}

func TestFailoverFollowsTheLeaderAndStaysOnAVotingLink(t *testing.T) {
	st := store.NewMemory("")
	c, nodes := startFailover(t, st, 2, nil)
	m1, _ := nodes[0].Accept()
	m1.Send(standing("m1", 1))
	m2, _ := nodes[1].Accept()
	m2.Send(leading("m2", 2, starts(2, 1), 0, 0))
	expectAck(t, m2, 0, 2) // at once: where the log ends, in the leader's epoch
	m2.Send(appendOf(2, 1, 2, 3))
	expectAck(t, m2, 3, 2)
	if p := st.Promise(); p.Epoch != 2 || p.To != "m2" {
		t.Fatalf("promise %+v, want epoch 2 to m2", p)
	}
	if h := st.History(); !slices.Equal(h, epoch.History{{Epoch: 2, FirstID: 1}}) || st.EpochOf(3) != 2 {
		t.Fatalf("history %v, id 3 of epoch %d", h, st.EpochOf(3))
	}
	if name, url, e, ok := c.Leader(); !ok || name != "m2" || url != nodes[1].URL || e != 2 {
		t.Fatalf("Leader() = %s %s %d %v", name, url, e, ok)
	}
	if !c.Connected() {
		t.Fatal("not connected while following")
	}
	m1.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 7})
	if hb, err := m1.ReadAny(); err != nil || hb.Type != frame.TypeHeartbeat || hb.ID != 7 {
		t.Fatalf("voting link's heartbeat echoed as %+v %v", hb, err)
	}
	links := c.Links()
	if len(links) != 2 || links[0].State != LinkVoting || links[0].Name != "m1" ||
		links[1].State != LinkFollowing || links[1].Name != "m2" || links[1].Epoch != 2 {
		t.Fatalf("links %+v", links)
	}
}

// frames reads p on a goroutine of its own, so that a test can wait
// for a frame with a bound (a Read with a deadline would close the
// connection). It ends with the connection.
func frames(p *frametest.Peer) <-chan frame.Frame {
	ch := make(chan frame.Frame, 64)
	go func() {
		defer close(ch)
		for {
			f, err := p.ReadAny()
			if err != nil {
				return
			}
			ch <- f
		}
	}()
	return ch
}

// TestPromiseIsOnDiskBeforeItIsGranted: while the ballot's save has not
// returned, no promise leaves; once it has, the granted promise carries
// the position read after it.
func TestPromiseIsOnDiskBeforeItIsGranted(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "a"}, store.Record{Message: "b"})
	saving, gate := make(chan store.Promise, 4), make(chan struct{})
	save := func(p store.Promise) error {
		saving <- p
		<-gate
		return st.SetPromise(p)
	}
	_, nodes := startFailover(t, st, 1, func(c *Config) { c.Ballot = ballot.New(election.Promise{Epoch: 1}, false, "s", save) })
	m1, _ := nodes[0].Accept()
	m1.Send(standing("m1", 2))
	m1.Send(prepare(3, "m1"))
	got := frames(m1)
	select {
	case p := <-saving:
		if p.Epoch != 3 || p.To != "m1" {
			t.Fatalf("saving %+v, want epoch 3 to m1", p)
		}
	case <-time.After(frametest.Timeout):
		t.Fatal("the promise was never saved")
	}
	select { // the save is under way and blocked: nothing may answer yet
	case f := <-got:
		close(gate)
		t.Fatalf("%+v sent before the promise was on disk", f)
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)
	f := <-got
	if f.Type != frame.TypePromise || !f.Granted || f.Epoch != 3 || f.Candidate != "m1" || f.LastID != 2 ||
		f.LastEpoch != 1 || f.FirstID != 1 || !slices.Equal(f.Epochs, starts(1, 1)) {
		t.Fatalf("promise %+v", f)
	}
	if p := st.Promise(); p.Epoch != 3 || p.To != "m1" {
		t.Fatalf("on disk %+v", p)
	}
}

func TestPromiseIsGivenForAnEpochOnceToOneCandidate(t *testing.T) {
	st := store.NewMemory("")
	_, nodes := startFailover(t, st, 2, nil)
	m1, _ := nodes[0].Accept()
	m1.Send(standing("m1", 0))
	m3, _ := nodes[1].Accept()
	m3.Send(standing("m3", 0))
	m1.Send(prepare(3, "m1"))
	if f := m1.Expect(frame.TypePromise); !f.Granted {
		t.Fatalf("first prepare answered %+v", f)
	}
	m1.Send(prepare(3, "m1")) // a lost answer asked again
	if f := m1.Expect(frame.TypePromise); !f.Granted {
		t.Fatalf("the same prepare again answered %+v", f)
	}
	m3.Send(prepare(3, "m3"))
	f := m3.Expect(frame.TypePromise)
	if f.Granted || f.Promised != 3 || f.Epoch != 3 || !strings.Contains(f.Error, "already promised") {
		t.Fatalf("a second candidate of epoch 3 answered %+v", f)
	}
	m3.Send(prepare(2, "m3"))
	if f := m3.Expect(frame.TypePromise); f.Granted || f.Promised != 3 {
		t.Fatalf("a lower epoch answered %+v", f)
	}
	if p := st.Promise(); p.Epoch != 3 || p.To != "m1" {
		t.Fatalf("on disk %+v", p)
	}
}

func TestFollowerRefusesLeaderOfLowerEpoch(t *testing.T) {
	st := store.NewMemory("")
	c, nodes := startFailover(t, st, 2, nil)
	m1, _ := nodes[0].Accept()
	m1.Send(standing("m1", 0))
	m1.Send(prepare(5, "m1"))
	m1.Expect(frame.TypePromise)
	m2, _ := nodes[1].Accept()
	m2.Send(leading("m2", 4, starts(4, 1), 0, 0))
	expectRefusal(t, m2, "epoch 4")
	if _, _, _, ok := c.Leader(); ok || c.Connected() {
		t.Fatal("follows a leader of a lower epoch")
	}
	if p := st.Promise(); p.Epoch != 5 || p.To != "m1" {
		t.Fatalf("promise %+v after the refusal", p)
	}
}

// TestFollowerStopsApplyingAfterPromisingAHigherEpoch: once this node
// promised a higher epoch (its own candidacy, on a standby: the ballot is
// the node's), the leader it follows gets nothing more from it: no frame
// applied, no ack, no heartbeat echoed.
func TestFollowerStopsApplyingAfterPromisingAHigherEpoch(t *testing.T) {
	for _, next := range []frame.Frame{appendOf(2, 3), {Type: frame.TypeHeartbeat, ID: 9, Epoch: 2}} {
		t.Run(string(next.Type), func(t *testing.T) {
			st := store.NewMemory("")
			c, nodes := startFailover(t, st, 2, nil)
			m1, _ := nodes[0].Accept()
			m1.Send(standing("m1", 0))
			m2, _ := nodes[1].Accept()
			m2.Send(leading("m2", 2, starts(2, 1), 0, 0))
			expectAck(t, m2, 0, 2)
			m2.Send(appendOf(2, 1, 2))
			expectAck(t, m2, 2, 2)
			if _, err := c.ballot.Stand("s", 2); err != nil {
				t.Fatal(err)
			}
			m2.Send(next)
			expectRefusal(t, m2, "promised")
			if st.LastID() != 2 {
				t.Fatalf("applied up to %d after promising epoch 3", st.LastID())
			}
			if err := poll.For(frametest.Timeout, func() error {
				if _, _, _, ok := c.Leader(); ok {
					return errors.New("still follows a leader")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFollowerRefusesAnotherVoterSet(t *testing.T) {
	_, nodes := startFailover(t, store.NewMemory(""), 1, nil)
	m, _ := nodes[0].Accept()
	w := leading("m2", 2, starts(2, 1), 0, 0)
	w.Voters = "W"
	m.Send(w)
	f := m.Expect(frame.TypeError)
	if !strings.Contains(f.Error, `"W"`) || !strings.Contains(f.Error, `"V"`) {
		t.Fatalf("refusal %q does not name both digests", f.Error)
	}
}

func TestFollowerRefusesAnEntryOfAnotherEpoch(t *testing.T) {
	st := store.NewMemory("")
	_, nodes := startFailover(t, st, 1, nil)
	m, _ := nodes[0].Accept()
	m.Send(leading("m2", 3, starts(1, 1, 3, 3), 0, 0))
	expectAck(t, m, 0, 3)
	m.Send(appendOf(1, 1, 2))
	expectAck(t, m, 2, 3)
	m.Send(appendOf(2, 3)) // epoch 3 started at 3
	expectRefusal(t, m, "entry 3 is of epoch 2")
	if st.LastID() != 2 {
		t.Fatalf("stored up to %d", st.LastID())
	}
}

func TestFollowerRefusesAHeartbeatOfAnotherEpoch(t *testing.T) {
	_, nodes := startFailover(t, store.NewMemory(""), 1, nil)
	m, _ := nodes[0].Accept()
	m.Send(leading("m2", 3, starts(3, 1), 0, 0))
	expectAck(t, m, 0, 3)
	m.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 1, Epoch: 3})
	if hb, err := m.ReadAny(); err != nil || hb.ID != 1 {
		t.Fatalf("heartbeat echoed as %+v %v", hb, err)
	}
	m.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: 2, Epoch: 4})
	expectRefusal(t, m, "heartbeat of epoch 4")
}

func TestFollowerHandsAHandoffOn(t *testing.T) {
	got := make(chan frame.Frame, 1)
	_, nodes := startFailover(t, store.NewMemory(""), 1, func(c *Config) { c.OnHandoff = func(f frame.Frame) { got <- f } })
	m, _ := nodes[0].Accept()
	m.Send(leading("m2", 3, starts(3, 1), 0, 0))
	expectAck(t, m, 0, 3)
	m.Send(frame.Frame{Type: frame.TypeHandoff, Candidate: "m1", Epoch: 4, LastID: 0, Within: 500})
	select {
	case f := <-got:
		if f.Candidate != "m1" || f.Epoch != 4 || f.Within != 500 {
			t.Fatalf("handoff %+v", f)
		}
	case <-time.After(frametest.Timeout):
		t.Fatal("OnHandoff not called")
	}
}

// TestSecondaryWithoutABallotRefusesAClusterWithFailover: it cannot keep
// promises, so it follows nothing of a welcome with voters, says why,
// and keeps redialing.
func TestSecondaryWithoutABallotRefusesAClusterWithFailover(t *testing.T) {
	st := store.NewMemory("")
	fm, c := startClientWith(t, st, Options{})
	conn, _ := fm.Accept()
	conn.Send(leading("m1", 2, starts(2, 1), 0, 0))
	expectRefusal(t, conn, "needs DATA_DIR")
	const want = "this cluster has failover (PEERS): a secondary needs DATA_DIR to keep its promises; set DATA_DIR"
	if err := poll.For(frametest.Timeout, func() error {
		if got := c.MasterError(); got != want {
			return fmt.Errorf("MasterError() = %q", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	conn, hello := fm.Accept() // redials
	if hello.Epochs != nil || hello.Epoch != 0 {
		t.Fatalf("hello %+v", hello)
	}
	conn.Send(leading("m1", 2, starts(2, 1), 0, 0))
	expectRefusal(t, conn, "needs DATA_DIR")
	if st.LastID() != 0 || st.LogID() != "" || c.Connected() {
		t.Fatalf("took the cluster's log: %q up to %d", st.LogID(), st.LastID())
	}
}

// TestSecondaryWithABallotJoinsAtTheFirstWelcomeWithVoters: a secondary
// with DATA_DIR starts in single-master mode (today's hello) and goes
// over to failover mode at the first welcome that has voters, before
// applying anything of it: it says its promise and history, and follows
// the leader in its epoch.
func TestSecondaryWithABallotJoinsAtTheFirstWelcomeWithVoters(t *testing.T) {
	st := store.NewMemory("L")
	_, _ = st.Append(store.Record{Message: "m1"}, store.Record{Message: "m2"})
	c, nodes := startFailover(t, st, 1, func(c *Config) { c.Role, c.Voters = frame.RoleSecondary, "" })
	m, h := nodes[0].Accept()
	if h.Epochs != nil || h.Epoch != 0 || h.LastEpoch != 0 || h.LastID != 2 {
		t.Fatalf("first hello %+v, want today's", h)
	}
	m.Send(leading("m1", 2, starts(1, 1, 2, 3), 2, 2))
	if err := m.ExpectClosed(frametest.Timeout); err == nil {
		t.Fatal("no error from a closed connection")
	}
	m, h = nodes[0].Accept()
	if h.Role != frame.RoleSecondary || h.Voters != "" || h.Epoch != 1 || h.LastEpoch != 1 ||
		!slices.Equal(h.Epochs, starts(1, 1)) {
		t.Fatalf("hello in failover mode %+v", h)
	}
	m.Send(leading("m1", 2, starts(1, 1, 2, 3), 2, 2))
	expectAck(t, m, 2, 2)
	m.Send(appendOf(2, 3))
	expectAck(t, m, 3, 2)
	if name, _, e, ok := c.Leader(); !ok || name != "m1" || e != 2 {
		t.Fatalf("Leader() = %s %d %v", name, e, ok)
	}
}

// TestFailoverSecondaryRefusesASingleMaster: once in failover mode, a
// welcome without voters (a master without PEERS) is not followed: it
// keeps none of the promises this node made.
func TestFailoverSecondaryRefusesASingleMaster(t *testing.T) {
	_, nodes := startFailover(t, store.NewMemory(""), 1, func(c *Config) { c.Role, c.Voters = frame.RoleSecondary, "" })
	m, _ := nodes[0].Accept()
	m.Send(leading("m1", 2, starts(2, 1), 0, 0))
	m.ExpectClosed(frametest.Timeout)
	m, _ = nodes[0].Accept()
	w := leading("m1", 2, starts(2, 1), 0, 0)
	w.Voters = ""
	m.Send(w)
	expectRefusal(t, m, "voter sets differ")
}

// TestFollowingSlotGoesToTheHigherEpoch: a leader of a higher epoch on
// another link takes the following slot; the link that held it is
// closed before the new one applies, and its deposed leader is refused
// when the link dials it again.
func TestFollowingSlotGoesToTheHigherEpoch(t *testing.T) {
	st := store.NewMemory("")
	c, nodes := startFailover(t, st, 2, nil)
	m1, _ := nodes[0].Accept()
	m1.Send(leading("m1", 2, starts(2, 1), 0, 0))
	expectAck(t, m1, 0, 2)
	m1.Send(appendOf(2, 1, 2))
	expectAck(t, m1, 2, 2)
	m2, _ := nodes[1].Accept()
	m2.Send(leading("m2", 3, starts(2, 1, 3, 3), 2, 2))
	expectAck(t, m2, 2, 3)
	if err := m1.ExpectClosed(frametest.Timeout); err == nil {
		t.Fatal("no error from a closed connection")
	}
	m2.Send(appendOf(3, 3))
	expectAck(t, m2, 3, 3)
	if name, _, e, ok := c.Leader(); !ok || name != "m2" || e != 3 {
		t.Fatalf("Leader() = %s %d %v", name, e, ok)
	}
	m1, h := nodes[0].Accept()
	if h.Epoch != 3 || h.LastEpoch != 3 || h.LastID != 3 {
		t.Fatalf("hello to the deposed leader %+v", h)
	}
	m1.Send(leading("m1", 2, starts(2, 1), 2, 2))
	expectRefusal(t, m1, "epoch 2")
}

func TestLeadershipMovedRedialsAtOnce(t *testing.T) {
	for reason, want := range map[string]bool{"now leading epoch 4": true, "stepped down": true, "master shutting down": false} {
		err := fmt.Errorf("read: %w", websocket.CloseError{Code: websocket.StatusGoingAway, Reason: reason})
		if got := leadershipMoved(err); got != want {
			t.Errorf("%q: leadershipMoved = %v", reason, got)
		}
	}
}

// TestVotingLinkDropsASilentNode: a node that does not lead and sends
// nothing for four heartbeat intervals is taken for dead: the link is
// dropped, reported down, and dialed again.
func TestVotingLinkDropsASilentNode(t *testing.T) {
	c, nodes := startFailover(t, store.NewMemory(""), 1, nil)
	m, _ := nodes[0].Accept()
	w := standing("m1", 0)
	w.HeartbeatMs = 50
	m.Send(w)
	start := time.Now()
	if err := m.ExpectClosed(frametest.Timeout); err == nil {
		t.Fatal("no error from a closed connection")
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("dropped after %s, before four heartbeat intervals", took)
	}
	if err := poll.For(frametest.Timeout, func() error {
		if l := c.Links()[0]; l.State != LinkDown || !strings.Contains(l.Error, "silent") {
			return fmt.Errorf("link %+v", l)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nodes[0].Accept() // dialed again
}

// TestFollowingLinkAnswersAPrepare: a candidate reachable only over the
// link this node follows it on is answered as on a voting link; the
// promise for a higher epoch ends the following (nothing more is acked).
// TestFollowingNodeRefusesOtherCandidates: while its leader's frames
// come, a node promises nothing to another candidate (leader stickiness),
// on the following link or on a voting link, and goes on following.
func TestFollowingNodeRefusesOtherCandidates(t *testing.T) {
	st := store.NewMemory("")
	_, nodes := startFailover(t, st, 2, nil)
	m, _ := nodes[0].Accept()
	m.Send(leading("m2", 2, starts(2, 1), 0, 0))
	expectAck(t, m, 0, 2)
	m.Send(appendOf(2, 1))
	expectAck(t, m, 1, 2)
	v, _ := nodes[1].Accept()
	v.Send(standing("m3", 0))
	for _, l := range []*frametest.Peer{m, v} {
		l.Send(prepare(3, "m3"))
		if f := l.Expect(frame.TypePromise); f.Granted || !strings.Contains(f.Error, "following m2") {
			t.Fatalf("a candidate's prepare while m2 leads: %+v", f)
		}
	}
	if p := st.Promise(); p.Epoch != 2 {
		t.Fatalf("promised %+v", p)
	}
	m.Send(appendOf(2, 2))
	expectAck(t, m, 2, 2)
}

// TestMasterErrorSaysWhyALinkWasRefused: in failover mode MasterError is
// the last error of any link, until a leader is followed.
func TestMasterErrorSaysWhyALinkWasRefused(t *testing.T) {
	c, nodes := startFailover(t, store.NewMemory(""), 1, nil)
	m, _ := nodes[0].Accept()
	w := leading("m2", 2, starts(2, 1), 0, 0)
	w.Voters = "W"
	m.Send(w)
	if err := poll.For(frametest.Timeout, func() error {
		if e := c.MasterError(); !strings.Contains(e, "voter sets differ") {
			return fmt.Errorf("MasterError() = %q", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m, _ = nodes[0].Accept()
	m.Send(leading("m2", 2, starts(2, 1), 0, 0))
	expectAck(t, m, 0, 2)
	if e := c.MasterError(); e != "" || !c.Connected() {
		t.Fatalf("following, MasterError() = %q, connected %v", e, c.Connected())
	}
}

// TestFollowerRefusesALeaderWithoutItsEpochsStart: a leader's welcome
// gives the history every streamed id is checked against; one that does
// not end in the leader's own epoch (or has none) is refused.
func TestFollowerRefusesALeaderWithoutItsEpochsStart(t *testing.T) {
	for name, w := range map[string]frame.Frame{
		"no epoch":   leading("m2", 0, nil, 0, 0),
		"no history": leading("m2", 2, nil, 0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			c, nodes := startFailover(t, store.NewMemory(""), 1, nil)
			m, _ := nodes[0].Accept()
			m.Send(w)
			expectRefusal(t, m, "does not end in its epoch")
			if _, _, _, ok := c.Leader(); ok {
				t.Fatal("follows it")
			}
		})
	}
}
