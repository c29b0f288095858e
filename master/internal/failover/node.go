// Package failover runs a master-capable node of a cluster with PEERS
// (docs/FAILOVER.md): a standby that follows the leader with the one
// follower of shared/follow, stands for election when the leader is
// silent (or on POST /promote), and leads an epoch through the
// replication hub's Term. The decisions are the pure types of
// shared/election and shared/epoch; this package moves frames and bytes
// around them.
//
// Ownership: Run's goroutine owns the role (standby, candidate, leader)
// and every transition; the follower runs in a goroutine Run starts and
// stops; the links (followers that dialed this node while it does not
// lead) each belong to the hub handler that called serveLink. The
// fields read by other goroutines are guarded by mu. Lock order: the
// ballot's lock, then mu (a ballot hook may take mu); never call the
// ballot or the hub with mu held.
package failover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/follow"
	"github.com/replog/replog/shared/store"
)

// Peer is a master-capable node.
type Peer struct {
	Name string
	URL  string // base URL, http(s)://host:port
}

// Config is what a node needs to know about its cluster.
type Config struct {
	Self        Peer   // this node: NODE_NAME and ADVERTISE_URL
	Peers       []Peer // the other master-capable nodes
	ClusterSize int
	Timeout     time.Duration // FAILOVER_TIMEOUT
	Manual      bool          // FAILOVER=manual
	Heartbeat   time.Duration
	Voters      string // the voter set's digest
	// Follow are the follower's options (token, TLS, backoff).
	Follow follow.Options
	// ReplicateURL turns a peer's base URL into its /replicate URL.
	ReplicateURL func(base string) string
}

// Role is what the node is now.
type Role string

// The roles /health shows.
const (
	RoleLeader    Role = "master"
	RoleStandby   Role = "standby"
	RoleCandidate Role = "candidate" // shown as standby on /health: it does not lead
)

// Reasons a node came to lead, for metrics and events.
const (
	ReasonFailover   = "failover"
	ReasonSwitchover = "switchover"
)

// Node is a master-capable node.
type Node struct {
	cfg    Config
	st     store.Store
	ballot *ballot.Ballot
	hub    *replication.Hub
	log    *zap.Logger
	now    func() time.Time

	kick     chan struct{}       // wakes Run: a promote request, a handoff, a term event
	promotes chan promoteRequest // POST /promote on this node
	handoffs chan handoffNotice  // handoff frames from the followed leader
	asks     chan string         // promote frames from standbys, while leading

	mu           sync.Mutex
	role         Role
	lead         *lead          // while leading
	cand         *candidacy     // while standing
	links        map[*link]bool // followers that dialed this node while it does not lead
	follower     *follow.Client // while following (standby)
	stopFollower func()         // stops it and waits
	granted      time.Time      // when this node last promised another candidate
	stats        Stats
}

// Stats are the node's counters, for metrics.
type Stats struct {
	Promotions map[string]uint64 // by reason
	RolledBack uint64            // messages this process moved to rollback files as a candidate
}

// New returns a node over st with the hub that streams for it; Run
// starts it. The hub must have been made with Options.Failover and
// Standby = n.ServeLink.
func New(cfg Config, st store.Store, b *ballot.Ballot, hub *replication.Hub, log *zap.Logger) *Node {
	n := &Node{cfg: cfg, st: st, ballot: b, hub: hub, log: log, now: time.Now,
		kick: make(chan struct{}, 1), promotes: make(chan promoteRequest), handoffs: make(chan handoffNotice, 4),
		asks: make(chan string, 4), role: RoleStandby, links: map[*link]bool{},
		stats: Stats{Promotions: map[string]uint64{}}}
	// A promise given to another node while standing ends the candidacy
	// before the promise leaves (Tally.Promised); while leading, before it
	// leaves, the leadership (Leadership.Promised). The ballot calls this
	// with its lock held: it takes only mu.
	b.OnPromise(func(p election.Promise) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if p.To != n.cfg.Self.Name {
			n.granted = n.now() // as Raft restarts its election timer on a vote: let that candidacy finish
		}
		if n.cand != nil {
			n.cand.tally.Promised(p)
		}
		if n.lead != nil {
			n.lead.promised(p)
		}
	})
	return n
}

// Run runs the node until ctx ends: follows, stands, leads.
func (n *Node) Run(ctx context.Context) {
	defer n.stopFollowing()
	defer n.stepDown("shutting down")
	n.startFollowing(ctx)
	lastHeard := n.now()
	wait := n.electionWait()
	tick := time.NewTicker(max(n.cfg.Heartbeat/4, 10*time.Millisecond))
	defer tick.Stop()
	var handoff *election.Handoff
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-n.promotes:
			n.promote(ctx, req, &handoff)
			lastHeard, wait = n.now(), n.electionWait()
			continue
		case h := <-n.handoffs:
			if n.Role() == RoleLeader {
				continue
			}
			if handoff == nil || h.h.Replaces(*handoff) {
				handoff = &h.h
			}
		case name := <-n.asks:
			n.handOff(ctx, name)
			lastHeard, wait = n.now(), n.electionWait()
			continue
		case <-tick.C:
		case <-n.kick:
		}
		now := n.now()
		switch n.Role() {
		case RoleLeader:
			if err := n.checkLeading(now); err != nil {
				n.stepDown(err.Error())
				n.startFollowing(ctx)
				lastHeard, wait = n.now(), n.electionWait()
			}
		case RoleStandby:
			if _, _, _, ok := n.following(); ok {
				lastHeard = now
			}
			n.mu.Lock()
			if n.granted.After(lastHeard) {
				lastHeard = n.granted
			}
			n.mu.Unlock()
			if handoff != nil {
				last := n.st.LastID()
				switch {
				case handoff.Lapsed(now):
					handoff = nil
				case handoff.Ready(n.st.History().Last(), last, now):
					h := *handoff
					handoff = nil
					if n.stand(ctx, ReasonSwitchover, h.From) == nil {
						continue
					}
					lastHeard, wait = n.now(), n.electionWait()
				}
				continue
			}
			if !n.cfg.Manual && !n.ballot.Learner() && now.Sub(lastHeard) >= wait {
				n.log.Info("no leader heard; standing for election", zap.Duration("silentFor", now.Sub(lastHeard).Round(time.Millisecond)))
				if n.stand(ctx, ReasonFailover, "") != nil {
					lastHeard, wait = n.now(), n.retryWait()
				} else {
					lastHeard, wait = n.now(), n.electionWait()
				}
			}
		}
	}
}

// electionWait is FAILOVER_TIMEOUT plus up to half of it again, drawn
// anew each time, so that two standbys rarely stand at once.
func (n *Node) electionWait() time.Duration {
	return n.cfg.Timeout + rand.N(n.cfg.Timeout/2+1)
}

// retryWait is the wait after a candidacy that failed with no leader
// heard: a quarter to a half of FAILOVER_TIMEOUT, at random, so that two
// standbys that stood at once (a split vote) stand again apart, soon, and
// not a whole election timeout later. A leader that exists meanwhile is
// followed (its followers refused the candidacy), which restarts the wait.
func (n *Node) retryWait() time.Duration {
	return n.cfg.Timeout/4 + rand.N(n.cfg.Timeout/4+1)
}

// Role is what the node is now.
func (n *Node) Role() Role {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

func (n *Node) setRole(r Role) {
	n.mu.Lock()
	n.role = r
	n.mu.Unlock()
}

// following reports the leader the follower follows now.
func (n *Node) following() (name, url string, e uint64, ok bool) {
	n.mu.Lock()
	f := n.follower
	n.mu.Unlock()
	if f == nil {
		return "", "", 0, false
	}
	return f.Leader()
}

// startFollowing starts the follower: the standby follows whoever leads.
func (n *Node) startFollowing(ctx context.Context) {
	n.mu.Lock()
	if n.follower != nil {
		n.mu.Unlock()
		return
	}
	urls := make([]string, len(n.cfg.Peers))
	for i, p := range n.cfg.Peers {
		urls[i] = n.cfg.ReplicateURL(p.URL)
	}
	c := follow.New(follow.Config{URLs: urls, Name: n.cfg.Self.Name, Role: "standby", Store: n.st,
		Log: n.log.Named("follow"), Options: n.cfg.Follow, Ballot: n.ballot, Voters: n.cfg.Voters,
		OnHandoff: n.onHandoff, OnRollBack: n.onRollBack, Commit: n.hub.Commit()})
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	n.follower, n.stopFollower = c, func() { cancel(); <-done }
	n.mu.Unlock()
	go func() {
		defer close(done)
		c.Run(fctx)
	}()
}

// onRollBack puts a rollback among the events the dashboard shows, so
// that a page opened later still tells which ids left and where to.
func (n *Node) onRollBack(rb store.Rollback, leader string) {
	msgs := "messages"
	if rb.Count() == 1 {
		msgs = "message"
	}
	file := rb.File
	if file == "" {
		file = "nowhere (a log in memory)"
	}
	n.hub.Note("rolled-back", n.cfg.Self.Name, fmt.Sprintf("%d %s (ids %d..%d) it held but no majority did, moved to %s: not in the log of %s, leader of epoch %d",
		rb.Count(), msgs, rb.From, rb.To, file, leader, rb.Epoch))
}

// stopFollowing stops the follower and waits until it no longer writes
// the log.
func (n *Node) stopFollowing() {
	n.mu.Lock()
	f, stop := n.follower, n.stopFollower
	n.follower, n.stopFollower = nil, nil
	n.mu.Unlock()
	if stop != nil {
		stop()
		n.mu.Lock()
		n.stats.RolledBack += f.RolledBack() // a follower counts for its own life; the node for its process's
		n.mu.Unlock()
	}
}

// errf is fmt.Errorf, for brevity in the transitions.
var errf = fmt.Errorf
