package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// lead is one epoch this node leads: the hub's term and the Leadership
// that decides when it may acknowledge and when it must stop.
type lead struct {
	term *replication.Term
	now  func() time.Time

	mu      sync.Mutex // guards ls, changed and selfHeld; taken inside Node.mu, never the other way
	ls      *election.Leadership
	changed chan struct{} // closed and replaced whenever Begun may have changed

	self     string
	selfHeld uint64        // the id the leader's own ack last said
	commit   *store.Commit // the node's commit id, raised to ls.Committed as acks come; nil: none kept
}

// Begun reports whether the epoch's start is on a majority (before that
// nothing may be acknowledged), and a channel closed when that may have
// changed: a learner's old ack stops counting, and it can turn false
// again.
func (l *lead) Begun() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ls.Begun(), l.changed
}

// note wakes the Begun waiters; mu is held.
func (l *lead) note() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// ack records that node holds id in this epoch. A follower's ack also
// says the leader holds id (it sent it): the leader's own ack, otherwise
// taken only now and then (checkLeading), is raised with it, so that
// the commit id follows the followers' acks at once.
func (l *lead) ack(node string, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.ls.Begun()
	now := l.now()
	if node == l.self {
		l.selfHeld = id
	} else if id > l.selfHeld {
		l.selfHeld = id
		l.ls.Ack(l.self, id, now)
	}
	l.ls.Ack(node, id, now)
	if l.ls.Begun() != was {
		l.note()
	}
	if l.commit != nil {
		l.commit.Raise(l.ls.Committed())
	}
}

func (l *lead) heard(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls.Heard(node, l.now())
}

func (l *lead) sawEpoch(e uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls.SawEpoch(e)
}

func (l *lead) promised(p election.Promise) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls.Promised(p)
}

func (l *lead) learner(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls.Learner(node)
	l.note()
}

func (l *lead) check(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ls.Check(now)
}

// begin makes this node the leader of c's epoch once the candidacy may
// lead: the start is on disk before the term begins, and nothing is
// acknowledged until a majority holds it (Leadership, invariant 4).
func (n *Node) begin(ctx context.Context, c *candidacy, reason string) error {
	now := n.now()
	n.mu.Lock()
	own := n.offer()
	may, over := c.tally.MayLead(own.Position, now), c.tally.Over(now)
	if testBreak == "no-copy" { // a test-only bug (testbreak.go): positions ignored
		may = c.tally.Won()
	}
	n.mu.Unlock()
	if over || !may {
		return fmt.Errorf("epoch %d: may not lead (over %v, most up to date %v)", c.epoch, over, may)
	}
	last := n.st.LastID()
	start := c.tally.Start(last)
	h, err := n.st.History().Append(start)
	if err != nil {
		return err
	}
	if err := n.st.SetHistory(h); err != nil {
		return fmt.Errorf("save the start of epoch %d: %w", c.epoch, err)
	}
	term := replication.NewTerm(c.epoch, h, n.cfg.Self.Name, n.cfg.Self.URL, n.cfg.Voters)
	term.Size = n.cfg.ClusterSize
	ld := &lead{term: term, now: n.now, ls: election.NewLeadership(n.cfg.Self.Name, start, n.cfg.ClusterSize, n.cfg.Timeout, now),
		changed: make(chan struct{}), self: n.cfg.Self.Name, commit: n.hub.Commit()}
	ld.ack(n.cfg.Self.Name, last)
	term.Ack, term.Heard, term.Learner = ld.ack, ld.heard, ld.learner
	term.SawEpoch = func(e uint64) { ld.sawEpoch(e); n.ballot.See(e); n.poke() }
	term.Promote = func(node string) {
		select {
		case n.asks <- node:
		default:
		}
	}
	n.mu.Lock()
	n.lead, n.role = ld, RoleLeader
	n.stats.Promotions[reason]++
	links := make([]*link, 0, len(n.links))
	for l := range n.links {
		links = append(links, l)
	}
	n.mu.Unlock()
	n.hub.StartTerm(term)
	for _, l := range links {
		l.cancel(fmt.Errorf("%w epoch %d", errNowLeading, c.epoch))
	}
	n.log.Info("leading", zap.Uint64("epoch", c.epoch), zap.Uint64("firstId", start.FirstID), zap.String("reason", reason))
	return nil
}

// poke wakes Run.
func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// checkLeading says why the node must stop leading, if it must.
func (n *Node) checkLeading(now time.Time) error {
	n.mu.Lock()
	ld := n.lead
	n.mu.Unlock()
	if ld == nil {
		return nil
	}
	ld.ack(n.cfg.Self.Name, n.st.LastID())
	return ld.check(now)
}

// stepDown ends the term this node leads, if any: waiting writes get 503
// (deposed), sessions close, and the node is a standby.
func (n *Node) stepDown(why string) {
	n.mu.Lock()
	ld := n.lead
	n.lead, n.role = nil, RoleStandby
	n.mu.Unlock()
	if ld == nil {
		return
	}
	n.hub.EndTerm(ld.term, why)
	n.log.Warn("stepped down", zap.Uint64("epoch", ld.term.Epoch), zap.String("why", why))
}

// Begun says whether a term's epoch start is on a majority.
type Begun interface {
	Begun() (bool, <-chan struct{})
}

// Term is the term this node leads and whether it may acknowledge yet
// (its start on a majority); nil when it does not lead.
func (n *Node) Term() (*replication.Term, Begun) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil {
		return nil, nil
	}
	return n.lead.term, n.lead
}

// handOff is the leader's side of a switchover to the standby name
// (docs/FAILOVER.md, "Switchover"): it takes no more writes, waits until
// name holds its last id, tells every follower, and steps down, so that
// name, the most up-to-date node, stands with this node's promise among
// its majority. If name does not catch up in time, writes resume.
func (n *Node) handOff(ctx context.Context, name string) {
	n.mu.Lock()
	ld := n.lead
	n.mu.Unlock()
	if ld == nil {
		return
	}
	ld.term.Pause()
	target := n.st.LastID()
	n.log.Info("switchover asked: writes paused until the standby holds the last id", zap.String("to", name), zap.Uint64("lastId", target))
	deadline := n.now().Add(PromoteWait)
	for {
		if held, ok := n.hub.Held(name); ok && held >= target {
			break
		}
		// Still a leader that must stop at once when deposed or cut off
		// (invariant 7), switchover or not.
		if err := n.checkLeading(n.now()); err != nil {
			n.stepDown(err.Error())
			n.startFollowing(ctx)
			return
		}
		if n.now().After(deadline) || ctx.Err() != nil {
			ld.term.Resume()
			n.log.Warn("switchover abandoned: the standby did not catch up", zap.String("to", name))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := n.hub.Broadcast(frame.Frame{Type: frame.TypeHandoff, Candidate: name, LastID: target, Epoch: ld.term.Epoch,
		Within: n.cfg.Timeout.Milliseconds()}, time.Second)
	if !sent[name] {
		// The standby would not stand, and another node could win the
		// election this step-down starts without the writes only this
		// node and the standby hold: the switchover would lose them. Go
		// on leading; the standby's POST /promote answers 503.
		ld.term.Resume()
		n.log.Warn("switchover abandoned: the handoff did not reach the standby", zap.String("to", name))
		return
	}
	n.stepDown("switchover to " + name)
	n.startFollowing(ctx)
}

// PromoteWait bounds POST /promote.
const PromoteWait = 10 * time.Second

// handoffNotice is a handoff frame this standby read from its leader.
type handoffNotice struct{ h election.Handoff }

// onHandoff is the follower's hook for a handoff frame (its reader
// goroutine): a switchover this standby asked for.
func (n *Node) onHandoff(f frame.Frame) {
	if f.Candidate != n.cfg.Self.Name {
		return // another standby stands; this one answers its prepare
	}
	from, _, _, _ := n.following()
	h := election.Handoff{From: from, To: n.cfg.Self.Name, Epoch: f.Epoch, LastID: f.LastID,
		Deadline: n.now().Add(time.Duration(f.Within) * time.Millisecond)}
	select {
	case n.handoffs <- handoffNotice{h}:
	default:
	}
	n.poke()
}

// PromoteResult is what POST /promote answers.
type PromoteResult struct {
	Changed bool
	Leader  Peer
	Epoch   uint64
	LastID  uint64
}

type promoteRequest struct {
	reply chan promoteReply
}

type promoteReply struct {
	r   PromoteResult
	err error
}

// ErrPromote wraps why a promotion did not happen; nothing changed.
var ErrPromote = errors.New("not promoted")

// Promote is POST /promote on this node: a switchover when a leader is
// reachable, a failover otherwise; nothing when this node leads.
func (n *Node) Promote(ctx context.Context) (PromoteResult, error) {
	req := promoteRequest{reply: make(chan promoteReply, 1)}
	select {
	case n.promotes <- req:
	case <-ctx.Done():
		return PromoteResult{}, fmt.Errorf("%w: %w", ErrPromote, ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.r, r.err
	case <-ctx.Done():
		return PromoteResult{}, fmt.Errorf("%w: %w", ErrPromote, ctx.Err())
	}
}

// promote serves one POST /promote, in Run's goroutine.
func (n *Node) promote(ctx context.Context, req promoteRequest, handoff **election.Handoff) {
	reply := func(changed bool, err error) {
		r := PromoteResult{Changed: changed, Leader: n.cfg.Self, LastID: n.st.LastID()}
		if t, _ := n.Term(); t != nil {
			r.Epoch = t.Epoch
		}
		req.reply <- promoteReply{r, err}
	}
	if n.Role() == RoleLeader {
		reply(false, nil)
		return
	}
	if n.ballot.Learner() {
		reply(false, fmt.Errorf("%w: this node lost its data directory and is a learner; it cannot lead", ErrPromote))
		return
	}
	leader, _, _, following := n.following()
	if !following {
		err := n.stand(ctx, ReasonFailover, "")
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrPromote, err)
		}
		reply(err == nil, err)
		return
	}
	n.mu.Lock()
	f := n.follower
	n.mu.Unlock()
	if err := f.SendToLeader(frame.Frame{Type: frame.TypePromote, Name: n.cfg.Self.Name}); err != nil {
		reply(false, fmt.Errorf("%w: ask %s to hand over: %w", ErrPromote, leader, err))
		return
	}
	deadline := time.NewTimer(PromoteWait)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			reply(false, ctx.Err())
			return
		case <-deadline.C:
			reply(false, fmt.Errorf("%w: %s did not hand over within %s", ErrPromote, leader, PromoteWait))
			return
		case h := <-n.handoffs:
			if h.h.Ready(n.st.History().Last(), n.st.LastID(), n.now()) {
				*handoff = nil
				err := n.stand(ctx, ReasonSwitchover, h.h.From)
				if err != nil {
					err = fmt.Errorf("%w: %w", ErrPromote, err)
				}
				reply(err == nil, err)
				return
			}
			*handoff = &h.h // not ready yet: Run stands once it is
			reply(false, fmt.Errorf("%w: %s handed over, but this node does not hold its last id %d yet", ErrPromote, leader, h.h.LastID))
			return
		}
	}
}
