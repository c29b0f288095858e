package follow

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"go.uber.org/zap"

	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// term is the leader a following link follows in failover mode: who it
// is, the epoch it leads and its history as its welcome gave it. A
// leader leads one epoch and only appends, so the history is fixed for
// the whole session: every id it streams has the epoch history.Of(id).
// A nil term is single-master mode, where none of its checks apply.
type term struct {
	leader, url string
	epoch       uint64
	history     epoch.History
	ballot      *ballot.Ballot
	// adopted is how many starts of history the store's history holds;
	// only the goroutine applying (the reader or the applier, one at a
	// time: see inbox) reads and writes it.
	adopted int
}

// errStopped is wrapped when this node promised a higher epoch (on
// another link) since it accepted the leader it follows: it applies and
// acks nothing more of that leader's (docs/FAILOVER.md, invariant 2).
var errStopped = errors.New("stopped following")

// stillAccepted checks, without changing the promise, that frames of the
// followed leader may still be taken.
func (t *term) stillAccepted() error {
	if err := t.ballot.Check(t.epoch, t.leader); err != nil {
		return fmt.Errorf("%w %s: %w", errStopped, t.leader, err)
	}
	return nil
}

// checkEntries refuses an append whose entries do not carry the epochs
// the leader's history gives their ids (0 standing for 1): a leader
// streams only its own log, so anything else is a protocol error.
func (t *term) checkEntries(entries []frame.Entry) error {
	if t == nil {
		return nil
	}
	for _, e := range entries {
		if got, want := max(e.Epoch, 1), t.history.Of(e.ID); got != want {
			return fmt.Errorf("%w: entry %d is of epoch %d, the history of leader %s of epoch %d gives it %d",
				frame.ErrMalformed, e.ID, got, t.leader, t.epoch, want)
		}
	}
	return nil
}

// checkHeartbeat refuses a heartbeat of another epoch than the leader's
// (none is the leader's, as from a version-1 peer) and, like an append,
// one of a leader this node no longer follows: echoing it would tell a
// deposed leader that it still has this node.
func (t *term) checkHeartbeat(f frame.Frame) error {
	if t == nil {
		return nil
	}
	if f.Epoch != 0 && f.Epoch != t.epoch {
		return fmt.Errorf("%w: heartbeat of epoch %d from leader %s of epoch %d", frame.ErrMalformed, f.Epoch, t.leader, t.epoch)
	}
	return t.stillAccepted()
}

// startsUpTo is how many starts of the history a log holding up to last
// may hold: those at or before last+1 (epoch.Adopt).
func (t *term) startsUpTo(last uint64) int {
	return sort.Search(len(t.history), func(i int) bool { return t.history[i].FirstID > last+1 })
}

// nextStart is the first id after id at which an epoch of the history
// starts, 0 when none does.
func (t *term) nextStart(id uint64) uint64 {
	i := sort.Search(len(t.history), func(i int) bool { return t.history[i].FirstID > id })
	if i == len(t.history) {
		return 0
	}
	return t.history[i].FirstID
}

// adopt saves the leader's history as far as a log holding up to last
// backs it, when that holds a start the store's history lacks (A5).
func (c *Client) adopt(t *term, last uint64) error {
	n := t.startsUpTo(last)
	if n <= t.adopted {
		return nil
	}
	if err := c.store.SetHistory(epoch.Adopt(t.history, last)); err != nil {
		return fmt.Errorf("adopt the history of leader %s of epoch %d up to id %d: %w", t.leader, t.epoch, last, err)
	}
	t.adopted = n
	return nil
}

// storeInTerm stores entries of the followed leader. A record of epoch
// k is written only once the history holds k's start (A5): entries that
// cross a start are stored in two appends with the history saved
// between; and the history holds a start at the new last id + 1 before
// the ack that says the log reaches it. It refuses the lot, with an
// error frame, once this node promised a higher epoch.
func (c *Client) storeInTerm(out *frame.Writer, t *term, entries []frame.Entry) error {
	err := c.storeLocked(t, entries)
	if errors.Is(err, errStopped) {
		_ = c.write(out, frame.Error(err.Error()))
	}
	return err
}

// storeLocked is storeInTerm under writeMu: the check and the appends
// are one step against a promise's reply (see answerPrepare).
func (c *Client) storeLocked(t *term, entries []frame.Entry) error {
	c.fo.writeMu.Lock()
	defer c.fo.writeMu.Unlock()
	if err := t.stillAccepted(); err != nil {
		return err
	}
	for len(entries) > 0 {
		first := entries[0].ID
		if err := c.adopt(t, first-1); err != nil {
			return err
		}
		n := len(entries)
		if s := t.nextStart(first); s != 0 && s <= entries[n-1].ID {
			n = int(s - first)
		}
		if err := c.storeEntries(entries[:n]); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return c.adopt(t, c.store.LastID())
}

// joinTerm makes the store follow the leader whose welcome w is, before
// anything is applied (steps 4 to 8 of the follower's contract; the link
// has accepted the leader and holds the following slot): the same log,
// the epoch-1 check, the divergence rolled back, retention, and the
// leader's history adopted as far as the log backs it. It returns the
// last id held, for the ack the caller sends at once (step 9).
func (c *Client) joinTerm(t *term, w frame.Frame) (last uint64, err error) {
	c.fo.writeMu.Lock()
	defer c.fo.writeMu.Unlock()
	if err := t.stillAccepted(); err != nil { // a higher epoch promised since Accept
		return 0, err
	}
	c.masterLast.Store(w.LastID)
	if w.LogID != c.store.LogID() {
		if c.store.LastID() > 0 {
			c.log.Warn("the leader holds another log; dropping the local copy and resyncing from id 1",
				zap.String("localLogId", c.store.LogID()), zap.Uint64("localLastId", c.store.LastID()),
				zap.String("leaderLogId", w.LogID), zap.String("leader", t.leader))
		}
		if err := c.resetLog(w.LogID); err != nil {
			return 0, fmt.Errorf("reset log for %s: %w", w.LogID, err)
		}
	}
	if err := c.rollBack(t, w.LastID, w.Keep); err != nil {
		return 0, err
	}
	if last := c.store.LastID(); w.From > last+1 {
		c.log.Warn("the leader no longer holds the ids this node lacks; restarting the log at the leader's first id",
			zap.Uint64("lostFrom", last+1), zap.Uint64("lostTo", w.From-1), zap.Uint64("firstId", w.From))
		if err := c.store.DropBefore(w.From); err != nil {
			return 0, fmt.Errorf("restart log at %d: %w", w.From, err)
		}
	}
	if err := c.followFirst(w.FirstID); err != nil {
		return 0, err
	}
	last = c.store.LastID()
	if adopted := epoch.Adopt(t.history, last); !slices.Equal(adopted, c.store.History()) {
		if err := c.store.SetHistory(adopted); err != nil {
			return 0, fmt.Errorf("adopt the history of leader %s of epoch %d: %w", t.leader, t.epoch, err)
		}
	}
	t.adopted = t.startsUpTo(last)
	return last, nil
}

// rollBack checks the leader's keep against this node's own computation
// (after the epoch-1 check) and moves what the log holds beyond it to a
// rollback file (docs/FAILOVER.md, invariant 5).
func (c *Client) rollBack(t *term, leaderLast, keep uint64) error {
	own, last := c.store.History(), c.store.LastID()
	if err := epoch.CheckEpochOne(t.history, leaderLast, own, last); err != nil {
		return err
	}
	if k := epoch.Diverge(t.history, epoch.Open, own, last); k != keep {
		return fmt.Errorf("leader %s of epoch %d says my log agrees with its own up to id %d, but I find %d (histories: its %v, mine %v up to %d)",
			t.leader, t.epoch, keep, k, t.history, own, last)
	}
	if last <= keep {
		return nil
	}
	rb, err := c.store.RollBackAfter(keep, t.epoch)
	if err != nil {
		return fmt.Errorf("roll back ids %d..%d for leader %s of epoch %d: %w", keep+1, last, t.leader, t.epoch, err)
	}
	epochs := fmt.Sprint(own.Of(rb.From))
	if e := own.Of(rb.To); e != own.Of(rb.From) {
		epochs += fmt.Sprintf("..%d", e)
	}
	file := rb.File
	if file == "" {
		file = "nowhere (a log in memory)"
	}
	c.log.Warn(fmt.Sprintf("rolled back ids %d..%d (epoch %s) to %s: they were not on the leader of epoch %d",
		rb.From, rb.To, epochs, file, t.epoch),
		zap.Uint64("from", rb.From), zap.Uint64("to", rb.To), zap.String("file", rb.File),
		zap.String("leader", t.leader), zap.Uint64("epoch", t.epoch))
	c.fo.rolledBack.Add(rb.Count())
	if c.onRollBack != nil {
		c.onRollBack(rb, t.leader)
	}
	return nil
}
