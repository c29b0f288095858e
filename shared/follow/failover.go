package follow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// Failover mode (docs/FAILOVER.md, "Roles and states"): the client keeps
// one link per URL at once, each with its own redial loop. A link whose
// welcome says leader: false stays open for a candidate's prepares and
// pulls (a voting link); one whose welcome says leader: true follows
// that leader, once the node accepted it, and only while it holds the
// following slot: one link at a time writes to the store.

// errFailoverCluster ends single-master mode: a welcome said the
// cluster has failover, and the client has a Ballot to take part.
var errFailoverCluster = errors.New("the cluster has failover (its welcome carries voters)")

// errNeedsDataDir refuses a cluster with failover without a Ballot.
var errNeedsDataDir = errors.New("this cluster has failover (PEERS): a secondary needs DATA_DIR to keep its promises; set DATA_DIR")

// Link states, as Links reports them.
const (
	LinkFollowing = "following"
	LinkVoting    = "voting"
	LinkDown      = "down"
)

// LinkStatus is one link of failover mode, for /health's peers.
type LinkStatus struct {
	URL   string `json:"url"`
	Name  string `json:"name,omitempty"`  // the node's name, from its last welcome
	State string `json:"state"`           // LinkFollowing, LinkVoting or LinkDown
	Epoch uint64 `json:"epoch,omitempty"` // the leader's epoch, or a voting node's promise
	Error string `json:"error,omitempty"` // why it is down, when known
}

// failover is the client's state in failover mode.
type failover struct {
	// writeMu orders the store's writes by the following link against
	// the position a granted promise or a hello reports, so that a
	// promise never says less than the log held when it was given.
	writeMu    sync.Mutex
	slot       slot
	rolledBack atomic.Uint64
	leader     atomic.Pointer[leaderInfo] // nil while leaderless

	mu    sync.Mutex
	links []*link // guarded by mu; set once when failover mode starts
}

type leaderInfo struct {
	name, url string
	epoch     uint64
	advertise string // the leader's ADVERTISE_URL, from its welcome
}

// link is one URL's connection in failover mode.
type link struct {
	url    string
	mu     sync.Mutex
	status LinkStatus // guarded by mu
}

func (l *link) set(s LinkStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.URL = l.url
	if s.Name == "" {
		s.Name = l.status.Name
	}
	l.status = s
}

// Leader is the leader the client follows; ok is false while it follows
// none (leaderless, or in single-master mode).
func (c *Client) Leader() (name, url string, epoch uint64, ok bool) {
	l := c.fo.leader.Load()
	if l == nil {
		return "", "", 0, false
	}
	return l.name, l.url, l.epoch, true
}

// RolledBack counts the entries moved to rollback files because the
// leader followed did not hold them.
func (c *Client) RolledBack() uint64 { return c.fo.rolledBack.Load() }

// Links reports every link of failover mode; none in single-master mode.
func (c *Client) Links() []LinkStatus {
	c.fo.mu.Lock()
	links := c.fo.links
	c.fo.mu.Unlock()
	out := make([]LinkStatus, len(links))
	for i, l := range links {
		l.mu.Lock()
		out[i] = l.status
		l.mu.Unlock()
	}
	return out
}

// runLinks is failover mode: a link per URL until ctx is done.
func (c *Client) runLinks(ctx context.Context) {
	links := make([]*link, len(c.rot.urls))
	for i, u := range c.rot.urls {
		links[i] = &link{url: u, status: LinkStatus{URL: u, State: LinkDown}}
	}
	c.fo.mu.Lock()
	c.fo.links = links
	c.fo.mu.Unlock()
	c.log.Info("failover mode: a link to every master-capable node", zap.Strings("urls", c.rot.urls))
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(func() { c.runLink(ctx, l) })
	}
	wg.Wait()
}

// runLink keeps one link up until ctx is done, redialing with capped,
// jittered backoff (reset by a welcome), or at once after the peer said
// it now leads or stepped down.
func (c *Client) runLink(ctx context.Context, l *link) {
	attempt := 0
	var warned time.Time
	for {
		welcomed, err := c.linkSession(ctx, l)
		l.set(LinkStatus{State: LinkDown, Error: errText(err)})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			msg := err.Error()
			c.masterErr.Store(&msg)
		}
		if welcomed {
			attempt, warned = 0, time.Time{}
		}
		delay := backoff(attempt, c.opts.MinBackoff, c.opts.MaxBackoff)
		attempt++
		if leadershipMoved(err) {
			delay = c.opts.MinBackoff
		}
		level := zap.DebugLevel
		if now := time.Now(); now.Sub(warned) >= time.Minute {
			level, warned = zap.WarnLevel, now
		}
		c.log.Log(level, "replication link ended; redialing", zap.String("peer", l.url),
			zap.Int("attempt", attempt), zap.Duration("in", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// leadershipMoved reports whether the peer closed the connection because
// it now leads or stepped down: the link then redials at once.
func leadershipMoved(err error) bool {
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		return false
	}
	return strings.HasPrefix(ce.Reason, "now leading") || strings.HasPrefix(ce.Reason, "stepped down")
}

// linkSession runs one connection of a link: hello, welcome, then a
// voting link's or a following link's life. welcomed reports whether
// the node accepted the hello and this one its welcome.
func (c *Client) linkSession(ctx context.Context, l *link) (welcomed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dctx, dcancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer dcancel()
	conn, err := c.dial(dctx, l.url)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	defer c.closeOnDone(ctx, conn)()
	out := frame.NewWriter(conn, c.opts.WriteTimeout)
	w, err := c.greet(dctx, conn, out)
	if err != nil {
		return false, err
	}
	c.ballot.See(w.Epoch)
	if !w.Leads() {
		l.set(LinkStatus{Name: w.Name, State: LinkVoting, Epoch: w.Epoch})
		return true, c.vote(conn, out, w)
	}
	return c.followLeader(ctx, cancel, conn, out, l, w)
}

// greet sends the failover hello and reads the welcome, refusing a
// welcome of another voter set (or, in a cluster with failover, a
// single master's, which has none).
func (c *Client) greet(ctx context.Context, conn *websocket.Conn, out *frame.Writer) (frame.Frame, error) {
	if err := c.write(out, c.failoverHello()); err != nil {
		return frame.Frame{}, fmt.Errorf("send hello: %w", err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		return frame.Frame{}, fmt.Errorf("read welcome: %w", err)
	}
	w, err := frame.Decode(data)
	switch {
	case err != nil:
		return w, err
	case w.Type == frame.TypeError:
		return w, fmt.Errorf("node refused: %s", w.Error)
	case w.Type != frame.TypeWelcome:
		return w, fmt.Errorf("expected welcome, got %s", w.Type)
	}
	// A standby checks the digest in every welcome. A secondary has none
	// to check; it still refuses a leader without one: a single master
	// does not keep the promises this node made.
	if (c.voters != "" && w.Voters != c.voters) || (w.Leads() && w.Voters == "") {
		err := fmt.Errorf("voter sets differ: %s says %q, this node %q (CLUSTER_SIZE and PEERS must be the same on every node)",
			w.Name, w.Voters, c.voters)
		_ = c.write(out, frame.Error(err.Error()))
		return w, err
	}
	if w.Leads() && (w.Epoch == 0 || historyOf(w.History()).Last() != w.Epoch) {
		// Every id it streams must have its epoch from this history.
		err := fmt.Errorf("%w: leader %s of epoch %d sent the history %v, which does not end in its epoch",
			frame.ErrMalformed, w.Name, w.Epoch, w.Epochs)
		_ = c.write(out, frame.Error(err.Error()))
		return w, err
	}
	if w.MaxFrameBytes > 0 {
		conn.SetReadLimit(w.MaxFrameBytes + 1024)
	}
	return w, nil
}

// failoverHello says who this node is, what it promised and where its
// log ends, with its whole history.
func (c *Client) failoverHello() frame.Frame {
	c.fo.writeMu.Lock() // a position the following link is not halfway through changing
	h, logID, last := c.store.History(), c.store.LogID(), c.store.LastID()
	c.fo.writeMu.Unlock()
	hello := frame.Hello(c.name, c.role, logID, last)
	hello.Epoch, hello.LastEpoch, hello.Epochs = c.ballot.Promised().Epoch, h.Last(), wireHistory(h)
	hello.Learner, hello.Voters = c.ballot.Learner(), c.voters
	inForce := c.opts.Faults.InForce()
	hello.FaultsAPI, hello.Faults = c.opts.FaultsAPI, &inForce
	return hello
}

// followLeader follows the leader whose welcome is w: accepted by the
// ballot (its promise on disk), then holding the following slot (after
// the link that held it has stopped applying), then with the store
// joined to its term, streaming until the connection ends. cancel ends
// this session: the slot calls it when a leader of an epoch at least as
// high takes over.
func (c *Client) followLeader(ctx context.Context, cancel context.CancelCauseFunc, conn *websocket.Conn, out *frame.Writer,
	l *link, w frame.Frame) (welcomed bool, err error) {
	t := &term{leader: w.Name, url: l.url, epoch: w.Epoch, history: historyOf(w.History()), ballot: c.ballot}
	if err := c.ballot.Accept(t.epoch, t.leader); err != nil {
		_ = c.write(out, frame.Error(err.Error()))
		return false, fmt.Errorf("refused %s at %s: %w", t.leader, l.url, err)
	}
	me := &holder{epoch: t.epoch, cancel: cancel, done: make(chan struct{})}
	if err := c.fo.slot.take(ctx, me, t.leader); err != nil {
		_ = c.write(out, frame.Error(err.Error()))
		return false, err
	}
	defer c.fo.slot.release(me)
	last, err := c.joinTerm(t, w)
	if err != nil {
		_ = c.write(out, frame.Error(err.Error()))
		return false, err
	}
	c.fo.leader.Store(&leaderInfo{name: t.leader, url: l.url, epoch: t.epoch, advertise: w.URL})
	defer c.fo.leader.Store(nil)
	c.out.Store(out)
	defer c.out.Store(nil)
	c.connected.Store(true)
	defer c.connected.Store(false)
	c.masterErr.Store(nil)
	l.set(LinkStatus{Name: t.leader, State: LinkFollowing, Epoch: t.epoch})
	c.log.Info("following the leader", zap.String("leader", t.leader), zap.String("peer", l.url),
		zap.Uint64("epoch", t.epoch), zap.Uint64("lastId", last))
	if err := c.writeRaw(out, frame.TypeAck, frame.AppendAckEpoch(nil, last, t.epoch)); err != nil {
		return true, err
	}
	return true, c.follow(ctx, conn, out, time.Duration(w.HeartbeatMs)*time.Millisecond, t)
}

// wireHistory is h as frames carry it; none for an empty history.
func wireHistory(h epoch.History) []frame.EpochStart {
	if len(h) == 0 {
		return nil
	}
	out := make([]frame.EpochStart, len(h))
	for i, s := range h {
		out[i] = frame.EpochStart(s)
	}
	return out
}

// historyOf is the history a frame carries.
func historyOf(starts []frame.EpochStart) epoch.History {
	h := make(epoch.History, len(starts))
	for i, s := range starts {
		h[i] = epoch.Start(s)
	}
	return h
}
