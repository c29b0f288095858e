// Package follow is the follower's side of replog's replication: it dials
// a master's /replicate, says where its log ends, applies what the master
// streams in total order, and acks it. The secondary follows with it, and
// a standby master will: everything it depends on is given in Config.
package follow

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/follow/apply"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// Options tune the client; the zero value of a field means its default.
type Options struct {
	// MinBackoff and MaxBackoff bound the wait between redials.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds the WebSocket handshake and the master's welcome.
	DialTimeout time.Duration
	// WriteTimeout bounds each frame write.
	WriteTimeout time.Duration
	// Token, when set, is presented to the master as a bearer token.
	Token string
	// Faults are injected before appends are applied; nil injects none
	// and takes no change.
	Faults Faults
	// FaultsAPI lets the master change Faults over the connection.
	FaultsAPI bool
	// TLS, when set, is how a wss:// master is dialed and verified.
	TLS *tls.Config
	// ReconnectAfterPause: when this process was away (paused, or the
	// machine slept) at least this long, it redials instead of reading on
	// (the master's REPLICATION_WRITE_TIMEOUT, 10s by default, may have
	// dropped it).
	ReconnectAfterPause time.Duration
}

func (o Options) withDefaults() Options {
	if o.MinBackoff == 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReconnectAfterPause == 0 {
		o.ReconnectAfterPause = 10 * time.Second
	}
	if o.Faults == nil {
		o.Faults = noFaults{}
	}
	return o
}

// Config is everything a follower depends on: whom it dials, who it says
// it is, the log it applies to, where it logs, and how (Options).
type Config struct {
	// URLs are the /replicate endpoints (ws:// or wss://) of the
	// master-capable nodes of one cluster, tried in turn until one accepts
	// the hello. The follower dials no other address.
	URLs []string
	// Name and Role are what the hello says; the zero Role is
	// frame.RoleSecondary.
	Name string
	Role frame.Role
	// Store is the log the follower keeps in step with the master's.
	Store store.Store
	// Log is where the follower logs; nil logs nothing.
	Log *zap.Logger
	// Ballot is the node's promises (docs/FAILOVER.md, invariant 2). nil:
	// the follower follows only single masters, and refuses a cluster
	// with failover (a welcome with voters).
	Ballot *ballot.Ballot
	// Voters is the voter-set digest a standby says in its hello and
	// checks in every welcome (election.VoterSet); "" for a secondary.
	// With a Ballot it starts the client in failover mode.
	Voters string
	// OnHandoff is called, on the following link's reader, with a
	// handoff frame of the leader followed; nil ignores them.
	OnHandoff func(frame.Frame)
	// OnRollBack is called, on the following link's reader, after entries
	// left the log for a rollback file because leader (of epoch rb.Epoch)
	// did not hold them; nil ignores it. A master-capable node puts it in the
	// events its dashboard shows.
	OnRollBack func(rb store.Rollback, leader string)
	// Commit is where the follower keeps the commit id its leader's
	// frames tell it (frame.Frame.CommitID): reads with committed=true
	// show up to it. nil: the client keeps its own (Client.Commit).
	Commit *store.Commit
	Options
}

// Client keeps a log in step with a master's.
type Client struct {
	name  string
	role  frame.Role
	store store.Store
	opts  Options
	log   *zap.Logger

	ballot     *ballot.Ballot
	voters     string
	onHandoff  func(frame.Frame)
	onRollBack func(store.Rollback, string)
	commit     *store.Commit // the highest commit id heard; reset with the log
	fo         failover      // the failover mode's state (failover.go)

	rot       rotation               // only Run uses it
	preferred atomic.Pointer[string] // a URL the next round starts from (Prefer), until Run takes it

	connected atomic.Bool
	out       atomic.Pointer[frame.Writer] // writes to the session's connection, while connected
	storeErr  atomic.Pointer[string]       // the last failure to store; nil after a success
	masterErr atomic.Pointer[string]       // why the last session failed or ended; nil while connected
	dialer    *http.Client                 // with opts.TLS, for wss://

	applied, nacksSent atomic.Uint64 // messages applied and nacks sent, for metrics
	masterLast         atomic.Uint64 // the master's last id, as its frames last told it (see heard)
}

// Lag is how many ids the master holds beyond the secondary's log, as
// far as the master's frames (welcome, appends, heartbeats) have told it:
// the secondary's own view, which it has even when the master's is out of
// reach.
func (c *Client) Lag() uint64 {
	master, held := c.masterLast.Load(), c.store.LastID()
	return master - min(master, held)
}

// heard notes that the master holds id. Only the reader calls it (and the
// handshake before it), so a load and a store need no compare-and-swap.
func (c *Client) heard(id uint64) {
	if id > c.masterLast.Load() {
		c.masterLast.Store(id)
	}
}

// Counts are the client's counters, for metrics.
func (c *Client) Counts() (applied, nacksSent uint64) { return c.applied.Load(), c.nacksSent.Load() }

// ChangeFaults changes the injected faults (fault control): from the
// master over the connection, or from the secondary's own API. A
// secondary healed from a cut-off asks the master to resend what it
// dropped meanwhile; a change made here is reported to the master.
func (c *Client) ChangeFaults(f frame.Faults) (frame.Faults, error) {
	return c.changeFaults(f, true)
}

func (c *Client) changeFaults(f frame.Faults, report bool) (frame.Faults, error) {
	wasCut := c.opts.Faults.CutOff()
	inForce, err := c.opts.Faults.Change(f)
	if err != nil {
		return inForce, err
	}
	c.log.Warn("injected faults changed", zap.String("replicationDelay", *inForce.ReplicationDelay),
		zap.Float64("failRate", *inForce.FailRate), zap.Bool("cutOff", *inForce.CutOff))
	out := c.out.Load()
	if out == nil {
		return inForce, nil
	}
	if wasCut && !*inForce.CutOff {
		// Frames that came while cut off were dropped: ask for them again.
		_ = c.writeNack(out, c.store.LastID()+1, "healed after a cut-off")
	}
	if report {
		_ = c.write(out, frame.Frame{Type: frame.TypeFaults, Faults: &inForce})
	}
	return inForce, nil
}

// StoreError is the last failure to store what the master sent, or ""
// once storing works again. While storing fails nothing new is acked.
func (c *Client) StoreError() string {
	if p := c.storeErr.Load(); p != nil {
		return *p
	}
	return ""
}

// New returns a client that replicates a master of cfg.URLs into
// cfg.Store once it runs.
func New(cfg Config) *Client {
	if len(cfg.URLs) == 0 {
		panic("follow.New: no URL to dial")
	}
	c := &Client{name: cfg.Name, role: cfg.Role, store: cfg.Store, opts: cfg.Options.withDefaults(), log: cfg.Log,
		ballot: cfg.Ballot, voters: cfg.Voters, onHandoff: cfg.OnHandoff, onRollBack: cfg.OnRollBack, commit: cfg.Commit,
		rot: rotation{urls: slices.Clone(cfg.URLs)}}
	if c.commit == nil {
		c.commit = new(store.Commit)
	}
	if c.role == "" {
		c.role = frame.RoleSecondary
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if cfg.TLS != nil {
		c.dialer = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLS}}
	}
	return c
}

// Commit is the commit id the follower heard from its leader, with its
// change signal. It may be above the log's last id: a read shows at most
// what the log holds.
func (c *Client) Commit() *store.Commit { return c.commit }

// resetLog drops the log and names it logID: the master holds another
// log, and the commit id heard was of the old one.
func (c *Client) resetLog(logID string) error {
	c.commit.Reset()
	return c.store.Reset(logID)
}

// Prefer makes url, when it is one of the client's URLs, the first one
// tried at the next dial, and reports whether it is one; a URL the client
// was not given is never dialed. This is where a leader hint comes in.
func (c *Client) Prefer(url string) bool {
	if !slices.Contains(c.rot.urls, url) { // urls never change: no race with Run
		return false
	}
	c.preferred.Store(&url)
	return true
}

// MasterError says why the secondary is not connected to the master (a
// refused dial, a certificate that failed verification); "" while it is.
func (c *Client) MasterError() string {
	if p := c.masterErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Connected reports whether a session with the master is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// Run replicates until ctx is done, redialing forever. In single-master
// mode it dials the URLs in turn, from the one that last accepted the
// hello, with capped, jittered exponential backoff between rounds in
// which every one failed. A client with a Ballot runs in failover mode
// (runLinks) from the start when it has Voters (a standby), or from the
// first welcome that carries voters (a secondary), for the rest of Run.
func (c *Client) Run(ctx context.Context) {
	if c.ballot == nil || c.voters == "" {
		c.runSingle(ctx)
	}
	if ctx.Err() == nil && c.ballot != nil {
		c.runLinks(ctx)
	}
}

// runSingle is single-master mode: one connection at a time, as before
// failover. It returns when ctx is done, or when a welcome says the
// cluster has failover and the client has a Ballot to take part.
func (c *Client) runSingle(ctx context.Context) {
	attempt := 0
	var warned time.Time
	for ctx.Err() == nil {
		if p := c.preferred.Swap(nil); p != nil {
			c.rot.prefer(*p)
		}
		url := c.rot.current()
		welcomed, err := c.session(ctx, url)
		c.connected.Store(false)
		if ctx.Err() != nil || errors.Is(err, errFailoverCluster) {
			return
		}
		if err != nil {
			msg := err.Error()
			c.masterErr.Store(&msg)
		}
		if welcomed {
			c.rot.accept()
			attempt, warned = 0, time.Time{}
		} else if !c.rot.fail() {
			c.log.Debug("master unreachable or refused; trying the next", zap.String("peer", url), zap.Error(err))
			continue
		}
		delay := backoff(attempt, c.opts.MinBackoff, c.opts.MaxBackoff)
		attempt++
		// One line when the session ends, then one a minute while the
		// master stays out of reach (or its certificate fails), not one
		// per redial.
		level := zap.DebugLevel
		if now := time.Now(); now.Sub(warned) >= time.Minute {
			level, warned = zap.WarnLevel, now
		}
		c.log.Log(level, "replication session ended; redialing", zap.String("peer", url),
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

// backoff is full jitter over an exponential step: redials of many
// secondaries after a master restart spread out instead of arriving as one.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	step := hi
	if attempt < 16 {
		step = min(hi, lo<<attempt)
	}
	return lo/2 + rand.N(step-lo/2+1)
}

// session runs one connection to the master. welcomed reports whether the
// master accepted it, which resets the backoff.
func (c *Client) session(ctx context.Context, url string) (welcomed bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, err := c.dial(dctx, url)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	defer c.closeOnDone(ctx, conn)()

	out := frame.NewWriter(conn, c.opts.WriteTimeout)
	w, err := c.handshake(dctx, conn, out)
	if err != nil {
		return false, err
	}
	c.out.Store(out)
	defer c.out.Store(nil)
	c.connected.Store(true)
	c.masterErr.Store(nil)
	c.log.Info("connected to master", zap.String("peer", url), zap.Uint64("lastId", c.store.LastID()))
	return true, c.follow(ctx, conn, out, time.Duration(w.HeartbeatMs)*time.Millisecond, nil)
}

// dial opens a WebSocket to url, with the client's token and TLS.
func (c *Client) dial(ctx context.Context, url string) (*websocket.Conn, error) {
	dialOpts := websocket.DialOptions{HTTPClient: c.dialer}
	if c.opts.Token != "" {
		dialOpts.HTTPHeader = http.Header{"Authorization": {"Bearer " + c.opts.Token}}
	}
	conn, _, err := websocket.Dial(ctx, url, &dialOpts)
	if err != nil {
		return nil, fmt.Errorf("dial master %s: %w", url, err)
	}
	return conn, nil
}

// closeOnDone closes conn when ctx is done: with a clean close frame,
// "<role> shutting down", when the client stops; at once when ctx was
// cancelled with a cause (a link giving up its following slot, which
// must not wait for a close handshake its deposed leader may never
// answer). The function it returns waits for that close, if it began.
func (c *Client) closeOnDone(ctx context.Context, conn *websocket.Conn) (wait func()) {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			c.log.Info("closing the connection", zap.String("why", cause.Error()))
			conn.CloseNow()
			return
		}
		_ = conn.Close(websocket.StatusGoingAway, string(c.role)+" shutting down")
	})
	return func() {
		if !stop() {
			<-closed
		}
	}
}

// handshake says hello from the last id held and reads the welcome; a
// master with another log makes the secondary drop its copy.
func (c *Client) handshake(ctx context.Context, conn *websocket.Conn, out *frame.Writer) (frame.Frame, error) {
	hello := frame.Hello(c.name, c.role, c.store.LogID(), c.store.LastID())
	inForce := c.opts.Faults.InForce()
	hello.FaultsAPI, hello.Faults = c.opts.FaultsAPI, &inForce
	if err := c.write(out, hello); err != nil {
		return frame.Frame{}, fmt.Errorf("send hello: %w", err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		return frame.Frame{}, fmt.Errorf("read welcome: %w", err)
	}
	w, err := frame.Decode(data)
	if err != nil {
		return w, err
	}
	if w.Type == frame.TypeError {
		return w, fmt.Errorf("master refused: %s", w.Error)
	}
	if w.Type != frame.TypeWelcome {
		return w, fmt.Errorf("expected welcome, got %s", w.Type)
	}
	if w.Voters != "" {
		// A cluster with failover: without a Ballot this node could not
		// keep its promises, so it follows nothing; with one, Run goes
		// over to failover mode and dials again with a failover hello.
		if c.ballot == nil {
			_ = c.write(out, frame.Error(errNeedsDataDir.Error()))
			return w, errNeedsDataDir
		}
		return w, errFailoverCluster
	}
	c.masterLast.Store(w.LastID) // a new master may hold less than the last one said
	if w.LogID != c.store.LogID() {
		if c.store.LastID() > 0 {
			c.log.Warn("master holds another log; dropping the local copy and resyncing from id 1",
				zap.String("localLogId", c.store.LogID()), zap.Uint64("localLastId", c.store.LastID()),
				zap.String("masterLogId", w.LogID))
		}
		if err := c.resetLog(w.LogID); err != nil {
			return w, fmt.Errorf("reset log for %s: %w", w.LogID, err)
		}
	}
	if last := c.store.LastID(); w.From > last+1 {
		// Retention on the master dropped what this secondary lacks: it
		// can never get those ids, and restarts its log where the
		// master's begins (same log id), gap-free from there.
		c.log.Warn("the master no longer holds the ids this secondary lacks; restarting the log at the master's first id",
			zap.Uint64("lostFrom", last+1), zap.Uint64("lostTo", w.From-1), zap.Uint64("firstId", w.From))
		if err := c.store.DropBefore(w.From); err != nil {
			return w, fmt.Errorf("restart log at %d: %w", w.From, err)
		}
	}
	if err := c.followFirst(w.FirstID); err != nil {
		return w, err
	}
	conn.SetReadLimit(w.MaxFrameBytes + 1024)
	return w, nil
}

// followFirst drops what the secondary holds below the master's first
// id, as the master's retention did; what lies beyond what it holds is
// the welcome's business (a restart), never a heartbeat's.
func (c *Client) followFirst(first uint64) error {
	if first <= c.store.FirstID() || first > c.store.LastID()+1 {
		return nil
	}
	if err := c.store.DropBefore(first); err != nil {
		return fmt.Errorf("follow the master's first id %d: %w", first, err)
	}
	return nil
}

// follow reads the master's frames until the connection ends. Heartbeats
// are answered here, at once. An append is applied here too, with no
// hand-off, when no replication delay is injected and nothing waits;
// otherwise it goes through the inbox to the applier goroutine, so that an
// injected delay never delays a heartbeat answer. A master silent for four
// heartbeat intervals is taken for dead and the connection dropped, so the
// caller redials — unless the silence was this process's own (see
// pauseClock).
//
// t is the leader's term in failover mode, nil for a single master: then
// nothing here differs from before failover.
func (c *Client) follow(ctx context.Context, conn *websocket.Conn, out *frame.Writer, heartbeat time.Duration, t *term) error {
	in := newInbox()
	applier := apply.New(c.store.LastID(), apply.DefaultMaxPending)
	applyErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		err := c.applyLoop(ctx, out, in, applier, t)
		if err != nil {
			conn.CloseNow() // ends the read below
		}
		applyErr <- err
	}()
	clock, ticked := watchPauses(ctx, heartbeat)
	err := c.readLoop(conn, out, in, applier, heartbeat, clock, t)
	cancel() // an injected delay need not run out for a dead connection
	in.close()
	<-ticked
	if aerr := <-applyErr; aerr != nil {
		return aerr
	}
	return err
}

// watchPauses returns a pauseClock ticked every quarter heartbeat until
// ctx is done, and a channel closed when its goroutine has ended. The
// clock is nil when the master set no heartbeat: then there is no
// silence deadline to excuse.
func watchPauses(ctx context.Context, heartbeat time.Duration) (*pauseClock, <-chan struct{}) {
	ticked := make(chan struct{})
	if heartbeat <= 0 {
		close(ticked)
		return nil, ticked
	}
	clock := newPauseClock(max(heartbeat/4, 10*time.Millisecond), time.Now())
	go func() {
		defer close(ticked)
		t := time.NewTicker(clock.period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				clock.tick(time.Now())
			}
		}
	}()
	return clock, ticked
}

// excuse is what the silence deadline asks when it runs out (see
// judgeSilence): whether to read on, this process having been away; when
// it was away so long that it redials, it stores how long in absent.
func (c *Client) excuse(clock *pauseClock, heartbeat time.Duration, absent *atomic.Int64) func() bool {
	return func() bool {
		away := clock.absent(time.Now(), max(heartbeat, 250*time.Millisecond))
		switch judgeSilence(away, heartbeat, c.opts.ReconnectAfterPause) {
		case pausedCarryOn:
			c.log.Info("this process was paused or the machine slept; reading on", zap.Duration("for", away.Round(time.Millisecond)))
			return true
		case pausedReconnect:
			absent.Store(int64(away))
		}
		return false
	}
}

func (c *Client) readLoop(conn *websocket.Conn, out *frame.Writer, in *inbox, applier *apply.Applier, heartbeat time.Duration,
	clock *pauseClock, t *term) error {
	silence := time.Duration(frame.UnhealthyAfter) * heartbeat
	var absent atomic.Int64 // how long this process was away, when that ends the connection
	r := frame.NewReaderExcusing(conn, silence, c.excuse(clock, heartbeat, &absent))
	for {
		_, data, err := r.Read()
		if errors.Is(err, context.DeadlineExceeded) {
			if away := time.Duration(absent.Load()); away > 0 {
				c.log.Info("this process was paused or the machine slept; reconnecting", zap.Duration("for", away.Round(time.Millisecond)))
				return fmt.Errorf("this process was away for %s; the master may have dropped it", away.Round(time.Millisecond))
			}
			return fmt.Errorf("master silent for %s (%d heartbeat intervals)", silence, frame.UnhealthyAfter)
		}
		if err != nil {
			return fmt.Errorf("read from master: %w", err)
		}
		f, err := frame.Decode(data)
		if err != nil {
			_ = c.write(out, frame.Error(err.Error()))
			return err
		}
		switch f.Type {
		case frame.TypeAppend:
			if err := t.checkEntries(f.Entries); err != nil {
				_ = c.write(out, frame.Error(err.Error()))
				return err
			}
			c.heard(f.Entries[len(f.Entries)-1].ID)
			if !c.opts.Faults.CutOff() {
				c.commit.Raise(f.CommitID)
			}
			if !c.opts.Faults.Delays() && in.claim() {
				err := c.applyFrames(out, applier, [][]frame.Entry{f.Entries}, t)
				in.done()
				if err != nil {
					return err
				}
				continue
			}
			in.put(f.Entries)
		case frame.TypeHeartbeat:
			c.heard(f.LastID)
			if c.opts.Faults.CutOff() {
				continue // cut off: the master hears nothing
			}
			if err := t.checkHeartbeat(f); err != nil {
				_ = c.write(out, frame.Error(err.Error()))
				return err
			}
			c.commit.Raise(f.CommitID)
			if err := c.followFirst(f.FirstID); err != nil {
				c.log.Error("retention not followed", zap.Error(err))
			}
			if err := c.write(out, f); err != nil {
				return err
			}
		case frame.TypeFaults:
			if err := c.answerFaults(out, f); err != nil {
				return err
			}
		case frame.TypeError:
			return fmt.Errorf("master reported: %s", f.Error)
		default:
			if t != nil {
				if err := c.answerLeader(out, t, f); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("unexpected %s frame from the master", f.Type)
		}
	}
}

// answerFaults takes a change of faults from the master and answers with
// what is in force (or why nothing changed).
func (c *Client) answerFaults(out *frame.Writer, f frame.Frame) error {
	answer := frame.Frame{Type: frame.TypeFaults, ID: f.ID} // the id says which change this answers
	if !c.opts.FaultsAPI || f.Faults == nil {
		answer.Error = "this " + string(c.role) + " does not take fault control (FAULTS_API is off)"
		return c.write(out, answer)
	}
	inForce, err := c.changeFaults(*f.Faults, false)
	answer.Faults = &inForce
	if err != nil {
		answer.Error = err.Error()
	}
	return c.write(out, answer)
}

// applyLoop takes every frame waiting in the inbox at once, waits the
// injected delay, applies them in order and acks once for the lot.
func (c *Client) applyLoop(ctx context.Context, out *frame.Writer, in *inbox, applier *apply.Applier, t *term) error {
	for {
		frames, ok := in.take()
		if !ok {
			return nil
		}
		err := c.delayThenApply(ctx, out, applier, frames, t)
		in.done()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

func (c *Client) delayThenApply(ctx context.Context, out *frame.Writer, applier *apply.Applier, frames [][]frame.Entry, t *term) error {
	if c.opts.Faults.CutOff() {
		return nil // dropped, as below
	}
	if d := c.opts.Faults.Delay(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
	return c.applyFrames(out, applier, frames, t)
}

// applyFrames applies frames in order and acks once for them all. While
// the secondary is cut off it drops them: a heal asks for them again.
// In failover mode the ack carries the leader's epoch, and leaves only
// while this node's promise still lets it follow that leader.
func (c *Client) applyFrames(out *frame.Writer, applier *apply.Applier, frames [][]frame.Entry, t *term) error {
	if c.opts.Faults.CutOff() {
		return nil
	}
	for _, entries := range frames {
		if err := c.apply(out, applier, entries, t); err != nil {
			return err
		}
	}
	if t == nil {
		return c.writeRaw(out, frame.TypeAck, frame.AppendAck(nil, applier.Last()))
	}
	if err := t.stillAccepted(); err != nil {
		_ = c.write(out, frame.Error(err.Error()))
		return err
	}
	return c.writeRaw(out, frame.TypeAck, frame.AppendAckEpoch(nil, applier.Last(), t.epoch))
}

// apply adds what the applier releases to the log, or refuses the frame
// when a failure is injected; either way a resend is asked for when the
// log cannot go on without one.
func (c *Client) apply(out *frame.Writer, applier *apply.Applier, entries []frame.Entry, t *term) error {
	if c.opts.Faults.Fail() {
		return c.writeNack(out, applier.Reject(), "injected failure (FAIL_RATE)")
	}
	r := applier.Receive(entries)
	if len(r.Apply) > 0 {
		var err error
		if t == nil {
			err = c.storeEntries(r.Apply)
		} else {
			err = c.storeInTerm(out, t, r.Apply)
		}
		if err != nil {
			return err
		}
	}
	if r.Nack != 0 {
		c.log.Debug("gap in the stream; asking for a resend", zap.Uint64("id", r.Nack))
		return c.writeNack(out, r.Nack, "gap before a received id")
	}
	return nil
}

// storeEntries appends entries to the log: one append for them all, so
// that a durable log fsyncs once.
func (c *Client) storeEntries(entries []frame.Entry) error {
	recs := records(entries)
	first, last := entries[0].ID, entries[len(entries)-1].ID
	id, err := c.store.Append(recs...)
	if err != nil {
		err = fmt.Errorf("store ids %d-%d: %w", first, last, err)
		msg := err.Error()
		c.storeErr.Store(&msg)
		c.log.Error("cannot store what the master sent; acking nothing until it works", zap.Error(err))
		return err
	}
	c.storeErr.Store(nil)
	c.applied.Add(uint64(len(recs)))
	if id != last {
		return fmt.Errorf("log out of step: id %d stored as %d", last, id)
	}
	return nil
}

func (c *Client) writeNack(out *frame.Writer, from uint64, why string) error {
	c.nacksSent.Add(1)
	return c.write(out, frame.Nack(from, why))
}

func (c *Client) write(out *frame.Writer, f frame.Frame) error {
	b, err := frame.Encode(f)
	if err != nil {
		return err
	}
	return c.writeRaw(out, f.Type, b)
}

// writeRaw sends an encoded frame of kind typ, bounded by WriteTimeout
// (see frame.Writer).
func (c *Client) writeRaw(out *frame.Writer, typ frame.Type, b []byte) error {
	if err := out.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}
