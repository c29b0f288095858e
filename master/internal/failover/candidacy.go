package failover

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// candidacy is one election this node stands in. Run's goroutine owns it;
// links deliver their answers over answers.
type candidacy struct {
	epoch   uint64
	tally   *election.Tally // guarded by Node.mu (the ballot's hook reads it)
	prep    frame.Frame
	answers chan answer
}

// source is a promiser the candidacy may copy from: its link, and the log
// id its promise named.
type source struct {
	link  *link
	logID string
}

type answer struct {
	l *link
	f frame.Frame
}

// deliver hands a link's answer to the candidacy; one that finds the
// channel full is dropped (the candidacy is over or flooded, and a lost
// promise only costs this election).
func (c *candidacy) deliver(l *link, f frame.Frame) {
	select {
	case c.answers <- answer{l, f}:
	default:
	}
}

func (c *candidacy) prepare(l *link) { _ = l.send(c.prep) }

// askAgain is how often a candidacy asks again the voters that did not
// grant its prepare.
const askAgain = 200 * time.Millisecond

// stand runs one candidacy (docs/FAILOVER.md, "The election"): promise
// itself the next epoch, gather a majority of promises over the links,
// copy what the most up-to-date promiser holds beyond its own log, then
// persist the epoch's start and lead. need names a node whose promise the
// candidacy must have (the old leader of a switchover). It returns nil
// once the node leads.
func (n *Node) stand(ctx context.Context, reason, need string) error {
	n.stopFollowing() // the log is the candidacy's alone from here
	err := n.runCandidacy(ctx, reason, need)
	n.mu.Lock()
	n.cand = nil
	n.mu.Unlock()
	if err != nil {
		n.log.Warn("candidacy failed", zap.String("reason", reason), zap.Error(err))
		n.setRole(RoleStandby)
		n.startFollowing(ctx)
	}
	return err
}

func (n *Node) runCandidacy(ctx context.Context, reason, need string) error {
	h, last := n.st.History(), n.st.LastID()
	p, err := n.ballot.Stand(n.cfg.Self.Name, h.Last())
	if err != nil {
		return err
	}
	now := n.now()
	own := n.offer()
	tally := election.NewTally(p.Epoch, n.cfg.Self.Name, own, n.cfg.ClusterSize, now.Add(n.cfg.Timeout))
	if need != "" {
		tally.Need(need)
	}
	c := &candidacy{epoch: p.Epoch, tally: tally, answers: make(chan answer, 256),
		prep: frame.Frame{Type: frame.TypePrepare, Epoch: p.Epoch, Candidate: n.cfg.Self.Name, LastEpoch: h.Last(), LastID: last}}
	n.mu.Lock()
	n.cand, n.role = c, RoleCandidate
	n.mu.Unlock()
	n.log.Info("standing for election", zap.Uint64("epoch", p.Epoch), zap.String("reason", reason),
		zap.Stringer("position", epoch.PositionOf(h, last)))
	for _, l := range n.linksNow() {
		c.prepare(l)
	}
	sources := map[string]*source{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	asked := n.now()
	for {
		n.mu.Lock()
		won, over := tally.Won(), tally.Over(n.now())
		n.mu.Unlock()
		if over {
			return fmt.Errorf("epoch %d: no majority of %d promised in time", p.Epoch, election.Majority(n.cfg.ClusterSize))
		}
		if won {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if now := n.now(); now.Sub(asked) >= askAgain {
				// Ask again those that did not grant: a voter that still heard
				// its leader refused, and may grant now; a repeated prepare
				// of the same epoch and candidate is answered alike.
				asked = now
				for _, l := range n.linksNow() {
					if sources[l.name] == nil || sources[l.name].link != l {
						c.prepare(l)
					}
				}
			}
		case a := <-c.answers:
			n.take(c, a, sources)
		}
	}
	if testBreak != "no-copy" { // a test-only bug (testbreak.go); never in a release build
		if err := n.catchUp(ctx, c, sources); err != nil {
			return err
		}
	}
	return n.begin(ctx, c, reason)
}

// offer is this node's log as a promise offers it.
func (n *Node) offer() election.Offer {
	o := election.OfferOf(n.st.History(), n.st.LastID())
	o.FirstID = n.st.FirstID()
	return o
}

// take counts one answer of a link.
func (n *Node) take(c *candidacy, a answer, sources map[string]*source) {
	f := a.f
	if f.Type != frame.TypePromise || f.Candidate != n.cfg.Self.Name || f.Epoch != c.epoch {
		return
	}
	if !f.Granted {
		n.ballot.See(f.Promised) // before mu: the ballot's lock comes first
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !f.Granted {
		c.tally.Refused(f.Promised)
		n.log.Info("promise refused", zap.String("peer", a.l.name), zap.Uint64("epoch", c.epoch), zap.String("why", f.Error))
		return
	}
	h := replication.HistoryOf(f.Epochs)
	o := election.Offer{Position: epoch.Position{Epoch: f.LastEpoch, ID: f.LastID}, History: h, FirstID: f.FirstID}
	c.tally.Granted(a.l.name, f.Epoch, o)
	sources[a.l.name] = &source{link: a.l, logID: f.LogID}
}

// catchUp copies, when a promiser holds a more up-to-date log, what this
// node lacks (docs/FAILOVER.md, "Catch-up from the most up-to-date
// promiser"): its diverged tail goes to rollback/ first, then the
// source's entries, each checked against the history it promised with.
func (n *Node) catchUp(ctx context.Context, c *candidacy, sources map[string]*source) error {
	n.mu.Lock()
	plan, copying := c.tally.Plan(n.offer())
	n.mu.Unlock()
	if !copying {
		return nil
	}
	s := sources[plan.Source]
	if s == nil {
		return fmt.Errorf("epoch %d: the most up-to-date promiser %s is not linked", c.epoch, plan.Source)
	}
	src := s.link
	if s.logID != "" && s.logID != n.st.LogID() { // "": a log that never held anything, of no one's
		if n.st.LastID() > 0 || n.st.FirstID() > 1 {
			return fmt.Errorf("epoch %d: %s holds log %s, this node %s", c.epoch, src.name, s.logID, n.st.LogID())
		}
		if err := n.st.Reset(s.logID); err != nil {
			return err
		}
	}
	if n.st.LastID() > plan.Keep {
		rb, err := n.st.RollBackAfter(plan.Keep, c.epoch)
		if err != nil {
			return fmt.Errorf("roll back beyond %d: %w", plan.Keep, err)
		}
		n.noteRollback(rb, c.epoch)
	}
	if plan.Restart {
		if err := n.st.DropBefore(plan.From); err != nil {
			return fmt.Errorf("restart the log at %d: %w", plan.From, err)
		}
	}
	n.log.Info("copying from the most up-to-date promiser", zap.String("source", src.name),
		zap.Uint64("from", plan.From), zap.Uint64("through", plan.Through))
	if plan.From <= plan.Through { // else only the source's history is newer: nothing to pull
		if err := src.send(frame.Frame{Type: frame.TypePull, From: plan.From, To: plan.Through}); err != nil {
			return err
		}
	}
	for n.st.LastID() < plan.Through {
		n.mu.Lock()
		over := c.tally.Over(n.now())
		n.mu.Unlock()
		if over {
			return fmt.Errorf("epoch %d: the copy from %s did not finish in time", c.epoch, src.name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		case a := <-c.answers:
			if a.l != src {
				n.take(c, a, sources)
				continue
			}
			if a.f.Type == frame.TypeError {
				return fmt.Errorf("%s refused the pull: %s", src.name, a.f.Error)
			}
			if a.f.Type != frame.TypePulled {
				continue
			}
			if err := n.copyEntries(plan, a.f.Entries); err != nil {
				return err
			}
		}
	}
	return n.st.SetHistory(epoch.Adopt(plan.History, n.st.LastID()))
}

// copyEntries appends pulled entries, one run of one epoch at a time,
// saving the history that backs a run before its first record (A5).
func (n *Node) copyEntries(plan election.Copy, entries []frame.Entry) error {
	for len(entries) > 0 {
		k := max(entries[0].Epoch, 1)
		j := 0
		for ; j < len(entries) && max(entries[j].Epoch, 1) == k; j++ {
			if err := plan.Take(entries[j].ID, k, n.st.LastID()+uint64(j)); err != nil {
				return err
			}
		}
		if want := epoch.Adopt(plan.History, entries[0].ID-1); !equal(want, n.st.History()) {
			if err := n.st.SetHistory(want); err != nil {
				return err
			}
		}
		recs := make([]store.Record, j)
		for i, e := range entries[:j] {
			recs[i] = store.Record{Message: e.Message, Epoch: e.Epoch, Key: e.Key}
			if e.Key != "" {
				recs[i].Time, recs[i].Digest = time.UnixMilli(e.At), e.Digest
				if e.Digest == 0 { // from a node of the release before digests travelled
					recs[i].Digest = store.Digest(e.Message)
				}
			}
		}
		if _, err := n.st.Append(recs...); err != nil {
			return fmt.Errorf("copy ids %d-%d: %w", entries[0].ID, entries[j-1].ID, err)
		}
		entries = entries[j:]
	}
	return nil
}

func equal(a, b epoch.History) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// noteRollback logs and counts a rollback this node made.
func (n *Node) noteRollback(rb store.Rollback, cause uint64) {
	if rb.Count() == 0 {
		return
	}
	n.log.Warn(fmt.Sprintf("rolled back ids %d..%d to %s: they were not on the leader of epoch %d", rb.From, rb.To, rb.File, cause),
		zap.Uint64("from", rb.From), zap.Uint64("to", rb.To), zap.String("file", rb.File), zap.Uint64("epoch", cause))
	n.mu.Lock()
	n.stats.RolledBack += rb.Count()
	n.mu.Unlock()
}
