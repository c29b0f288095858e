package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/frame"
)

// link is a follower that dialed this node while it does not lead: it
// stays connected for prepares (docs/FAILOVER.md, "Roles and states").
// Its handler goroutine reads it; anyone may send on it (out serializes).
type link struct {
	name   string
	logID  string
	out    *frame.Writer
	conn   *websocket.Conn
	cancel context.CancelCauseFunc
}

func (l *link) send(f frame.Frame) error { return l.out.Send(f) }

// errNowLeading ends the links of a node that starts leading: their
// followers redial and are streamed the new epoch.
var errNowLeading = errors.New("now leading")

// ServeLink serves a follower that dialed /replicate while this node does
// not lead (the hub's Options.Standby): a welcome that says so, then
// heartbeats, until the follower goes, the node starts leading, or ctx
// ends. A candidacy sends its prepares and pulls on these links.
func (n *Node) ServeLink(ctx context.Context, conn *websocket.Conn, hello frame.Frame) {
	if hello.Role == frame.RoleStandby && hello.Voters != n.cfg.Voters {
		err := fmt.Errorf("%s counts majorities over another voter set (digest %q, this node's %q): CLUSTER_SIZE and PEERS must be the same on every node",
			hello.Name, hello.Voters, n.cfg.Voters)
		n.log.Error("refused peer", zap.Error(err))
		_ = frame.NewWriter(conn, 5*time.Second).Send(frame.Error(err.Error()))
		_ = conn.Close(websocket.StatusPolicyViolation, truncate(err.Error()))
		return
	}
	n.ballot.See(hello.Epoch)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l := &link{name: hello.Name, logID: hello.LogID, out: frame.NewWriter(conn, 10*time.Second), conn: conn, cancel: cancel}
	leads := false
	welcome := frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, Leader: &leads, Name: n.cfg.Self.Name,
		Epoch: n.ballot.Promised().Epoch, Voters: n.cfg.Voters, LogID: n.st.LogID(), LastID: n.st.LastID(),
		FirstID: n.st.FirstID(), HeartbeatMs: n.cfg.Heartbeat.Milliseconds(), Epochs: replication.FrameHistory(n.st.History())}
	if err := l.send(welcome); err != nil {
		return
	}
	if !n.addLink(l) {
		_ = conn.Close(websocket.StatusTryAgainLater, errNowLeading.Error())
		return
	}
	defer n.dropLink(l)
	n.log.Debug("follower linked", zap.String("peer", l.name))
	conn.SetReadLimit(64 << 20) // pulled frames carry entries
	var beating sync.WaitGroup
	beating.Go(func() { n.beat(ctx, l) })
	defer func() { cancel(nil); beating.Wait() }() // the heartbeats end with the link
	// The read takes no context, and a follower only answers heartbeats:
	// it is read on its own goroutine, so that the end of ctx closes the
	// link at once ("now leading": the follower redials and is streamed
	// the new epoch) rather than after the follower's silence timeout.
	read := make(chan error, 1)
	go func() { read <- n.readLink(ctx, l) }()
	var err error
	select {
	case err = <-read:
		read = nil
	case <-ctx.Done():
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errNowLeading):
		_ = conn.Close(websocket.StatusTryAgainLater, truncate(cause.Error()))
	case ctx.Err() != nil:
		_ = conn.Close(websocket.StatusGoingAway, "shutting down")
	default:
		n.log.Debug("link ended", zap.String("peer", l.name), zap.Error(err))
		return
	}
	if read != nil {
		<-read // the close ends it
	}
}

// beat sends a heartbeat every interval, so that the follower's silence
// detection keeps the link alive (and drops it when this node is gone).
func (n *Node) beat(ctx context.Context, l *link) {
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	var id uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			id++
			if err := l.send(frame.Frame{Type: frame.TypeHeartbeat, ID: id, LastID: n.st.LastID(), FirstID: n.st.FirstID()}); err != nil {
				l.cancel(err)
				return
			}
		}
	}
}

// readLink hands the follower's answers to the candidacy.
func (n *Node) readLink(ctx context.Context, l *link) error {
	r := frame.NewReader(l.conn, 0)
	for {
		_, data, err := r.Read()
		if err != nil {
			return err
		}
		f, err := frame.Decode(data)
		if err != nil {
			return err
		}
		switch f.Type {
		case frame.TypeHeartbeat:
		case frame.TypePromise, frame.TypePulled, frame.TypeError:
			n.mu.Lock()
			c := n.cand
			n.mu.Unlock()
			if c != nil {
				c.deliver(l, f)
			}
		default:
			return fmt.Errorf("unexpected %s frame on a link", f.Type)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// addLink registers l unless this node leads; a candidacy under way sends
// it its prepare at once.
func (n *Node) addLink(l *link) bool {
	n.mu.Lock()
	if n.role == RoleLeader {
		n.mu.Unlock()
		return false
	}
	n.links[l] = true
	c := n.cand
	n.mu.Unlock()
	if c != nil {
		c.prepare(l)
	}
	return true
}

func (n *Node) dropLink(l *link) {
	n.mu.Lock()
	delete(n.links, l)
	n.mu.Unlock()
}

// linksNow returns the links as they are.
func (n *Node) linksNow() []*link {
	n.mu.Lock()
	defer n.mu.Unlock()
	ls := make([]*link, 0, len(n.links))
	for l := range n.links {
		ls = append(ls, l)
	}
	return ls
}

// truncate bounds a close reason to what a close frame carries.
func truncate(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}
