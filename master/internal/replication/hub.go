// Package replication is the master's side of replog's replication: one
// session per connected peer that streams the log to it, and the
// membership that turns the secondaries' acks into satisfied write
// concerns.
//
// Who owns what: each session's loop goroutine decides what to send and
// alone writes frames; the session's reader goroutine decodes the peer's
// frames. What the peer was sent and acked lives in the session's
// progress, which each goroutine uses through methods of its own: the
// reader records each ack there (waking the loop if it waits for one) and
// in the Membership itself, so that the writes it satisfies wake with no
// hand-off. Nacks and fault answers go to the loop over a channel. A
// session learns of appends from the store's change signal, and from the
// hub (hurry) that a write waits for one. The Hub's one mutex guards the
// Membership (owners, positions, health, waiting writes) and the set of
// sessions. No lock is held across I/O, and none is held while another is
// taken: the store's last id is read before the hub's lock.
package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// Options tune replication; the zero value of a field means its default.
type Options struct {
	// Window is how many ids may be sent to a secondary and not yet acked.
	Window uint64
	// MaxFrames is how many frames may be sent to a secondary and not yet
	// acked (see Flow).
	MaxFrames int
	// BatchEntries and BatchBytes bound one append frame.
	BatchEntries int
	BatchBytes   int
	// MaxMessageBytes is the largest message the log may hold; it decides
	// the largest frame a secondary must be ready to read.
	MaxMessageBytes int
	// WriteTimeout bounds each frame write; a peer that does not take a
	// frame in that time is dropped and must reconnect.
	WriteTimeout time.Duration
	// HelloTimeout bounds the wait for a dialing peer's hello.
	HelloTimeout time.Duration
	// RequireClientCert refuses peers that present no client certificate
	// verified by the server's client CAs (mutual TLS).
	RequireClientCert bool
	// MaxPeers bounds the peers on /replicate at once, observers and
	// peers still saying hello included; beyond it a peer is refused
	// (503) before the upgrade.
	MaxPeers int
	// HeartbeatInterval is how often each secondary is sent a heartbeat,
	// and the unit of the health thresholds.
	HeartbeatInterval time.Duration
	// Token, when set, must be presented as "Authorization: Bearer …" by
	// every peer that dials /replicate.
	Token string
	// ForgetAfter is how long a disconnected secondary stays listed (as
	// unhealthy) before the master forgets it.
	ForgetAfter time.Duration
	// Linger is how long a session may hold appends that no write waits
	// for (writeConcern 1) to send them in one frame with those that
	// follow; an append a write waits for leaves at once, with whatever is
	// held. 0 means the default, 1ms; NoLinger means none.
	Linger time.Duration
	// NoLinger sends every append at once, whatever Linger says: the
	// explicit "off" that Linger's zero value cannot say.
	NoLinger bool
	// Failover: the node is master-capable in a cluster with PEERS. The
	// hub then streams only during a term (StartTerm), speaks only
	// protocol version 2, and hands every peer that dials while no term
	// is current to Standby.
	Failover bool
	Standby  func(ctx context.Context, conn *websocket.Conn, hello frame.Frame)
	// Commit, when set, is the node's commit id (the highest id it knows
	// a majority of the cluster holds): every append and heartbeat to a
	// version-2 peer carries it (frame.Frame.CommitID). With Failover the
	// leader's Leadership raises it; a single master raises it itself
	// from its secondaries' acks, counting a majority of ClusterSize, the
	// master included. nil: no commit id is known or sent (a single
	// master without CLUSTER_SIZE).
	Commit *store.Commit
	// ClusterSize is CLUSTER_SIZE (0: not stated), for a single master's
	// commit id.
	ClusterSize int
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = 16384
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = 2
	}
	if o.BatchEntries == 0 {
		o.BatchEntries = 1024
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 256 << 10
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.MaxPeers == 0 {
		o.MaxPeers = 256
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.ForgetAfter == 0 {
		o.ForgetAfter = time.Hour
	}
	if o.Linger == 0 {
		o.Linger = time.Millisecond
	}
	return o
}

// maxFrameBytes is the largest append frame a session builds: a full batch,
// or one message of the largest size with every byte escaped.
func (o Options) maxFrameBytes() int64 {
	return int64(max(frame.EncodedEntrySize(o.BatchBytes), frame.EncodedEntrySize(o.MaxMessageBytes))) + 64
}

// Hub owns every replication session of the master.
type Hub struct {
	log   *zap.Logger
	store store.Store
	opts  Options
	now   func() time.Time
	ctx   context.Context // cancelled by Close; every session derives from it
	stop  context.CancelCauseFunc
	wg    sync.WaitGroup // every session handler, and the forget loop

	mu       sync.Mutex
	closed   bool                   // guarded by mu; set by Close, after which no handler starts
	term     *Term                  // guarded by mu; the epoch led, with Options.Failover (nil: none)
	members  *Membership            // guarded by mu
	events   *Events                // guarded by mu
	sessions map[SessionID]*session // guarded by mu; every session, observers included
	lastID   SessionID              // guarded by mu; the newest session's id

	// peers is a copy of sessions for hurry, which runs on every append a
	// write waits for and so reads it without the lock; it is replaced
	// under mu.
	peers atomic.Pointer[[]*session]
	// conns counts the /replicate handlers running, for MaxPeers.
	conns atomic.Int64
	// first is the oldest id retention keeps (see Retain).
	first atomic.Uint64
	// urgent is the highest id a write waits for (see hurry): sessions
	// send up to it at once rather than linger.
	urgent atomic.Uint64
}

// NewHub returns a hub that streams st to the peers that dial it. Close
// stops it.
func NewHub(st store.Store, opts Options, log *zap.Logger) *Hub {
	opts = opts.withDefaults()
	ctx, stop := context.WithCancelCause(context.Background())
	h := &Hub{
		log:      log,
		store:    st,
		opts:     opts,
		now:      time.Now,
		ctx:      ctx,
		stop:     stop,
		members:  NewMembership(opts.HeartbeatInterval, opts.ForgetAfter),
		events:   NewEvents(100),
		sessions: map[SessionID]*session{},
	}
	h.peers.Store(new([]*session))
	if c := opts.Commit; c != nil && !opts.Failover && opts.ClusterSize > 0 && majority(opts.ClusterSize) == 1 {
		c.Raise(store.All) // a cluster of one: whatever the master holds is on a majority
	}
	h.wg.Go(h.tickLoop)
	return h
}

// majority is how many of n nodes make a majority.
func majority(n int) int { return n/2 + 1 }

// Commit is the node's commit id (Options.Commit), nil when it knows none.
func (h *Hub) Commit() *store.Commit { return h.opts.Commit }

// commitID is the commit id the sessions send: never beyond the log's
// last id (a single master of one counts all it holds), 0 when none.
func (h *Hub) commitID() uint64 {
	if h.opts.Commit == nil {
		return 0
	}
	return min(h.opts.Commit.ID(), h.store.LastID())
}

// countsCommit says whether the hub raises the commit id itself: a
// single master that knows CLUSTER_SIZE (with failover, the leadership
// does).
func (h *Hub) countsCommit() bool {
	return h.opts.Commit != nil && !h.opts.Failover && h.opts.ClusterSize > 0
}

// Close ends every session, telling each peer the master is going away,
// and waits for them.
func (h *Hub) Close() {
	h.mu.Lock() // so that no handler is counted after the wait starts
	h.closed = true
	h.mu.Unlock()
	h.stop(errShuttingDown)
	h.wg.Wait()
}

// wakeSessions makes every session look at the log again. It never
// blocks: a session that is already awake or busy looks anyway. Sessions
// see appends through the store's change signal; this is for what the
// store does not say (hurry, Retain).
func (h *Hub) wakeSessions() {
	for _, s := range *h.peers.Load() {
		s.poke()
	}
}

// hurry tells every session that a write waits for id: they send it at
// once, with whatever they held, rather than linger. Await calls it, as
// the hub is where a write waits; the store's change signal, which wakes
// the sessions for every append, cannot say which appends are waited for.
func (h *Hub) hurry(id uint64) {
	if raise(&h.urgent, id) {
		h.wakeSessions()
	} // else already told, and the sessions were woken then
}

// raise moves a up to v, if v is higher, and reports whether it did;
// callers that race leave the highest of their values.
func raise(a *atomic.Uint64, v uint64) bool {
	for {
		cur := a.Load()
		if v <= cur {
			return false
		}
		if a.CompareAndSwap(cur, v) {
			return true
		}
	}
}

// ErrConcernTimeout is wrapped by the error Await returns when the write
// concern was not met in time. The write stays in the log and keeps
// replicating.
var ErrConcernTimeout = errors.New("write concern not met in time")

// ConcernError says how far a write got when its wait timed out.
type ConcernError struct {
	Acks, Need int
	Timeout    time.Duration
}

func (e *ConcernError) Error() string {
	return fmt.Sprintf("write concern not met in %s: held by %d of %d nodes", e.Timeout, e.Acks, e.Need)
}

// Is makes errors.Is(err, ErrConcernTimeout) true.
func (e *ConcernError) Is(target error) bool { return target == ErrConcernTimeout }

// ErrRetained is wrapped by the error Await returns when retention
// dropped the message before its write concern was met: the secondaries
// that lack it can no longer be sent it.
var ErrRetained = errors.New("dropped by retention before the write concern was met")

// RetainedError says how far a write got before retention dropped it.
type RetainedError struct {
	ID         uint64
	Acks, Need int
}

func (e *RetainedError) Error() string {
	return fmt.Sprintf("id %d was dropped by retention (RETENTION_MAX_*) while held by %d of %d nodes; "+
		"it can no longer reach the others", e.ID, e.Acks, e.Need)
}

// Is makes errors.Is(err, ErrRetained) true.
func (e *RetainedError) Is(target error) bool { return target == ErrRetained }

// Retain tells the hub that retention dropped every id below first:
// writes still waiting for those ids are answered with a *RetainedError,
// new waits below it fail at once, and sessions streaming below it end
// (their secondaries reconnect and restart at first; one that reads the
// log before the hub is told ends too, see sendAppends). The first id
// only moves up, whoever calls and however they race.
func (h *Hub) Retain(first uint64) {
	if !raise(&h.first, first) {
		return
	}
	h.mu.Lock()
	gone := h.members.DropBelow(first)
	for _, w := range gone {
		w.Dropped = true
	}
	h.mu.Unlock()
	release(gone)
	h.wakeSessions()
}

// Await waits until need nodes, master included, hold id, and returns how
// many do. It gives up when timeout passes (0: no limit), with a
// *ConcernError, or when ctx ends, with ctx's cause; a write that was met
// at that very moment still counts as met.
func (h *Hub) Await(ctx context.Context, id uint64, need int, timeout time.Duration) (acks int, err error) {
	return h.AwaitIn(ctx, nil, id, need, timeout)
}

// AwaitIn is Await for a write appended in term t (with
// Options.Failover): once t has ended the wait ends with a
// *DeposedError, and acks of a later term never count for it.
func (h *Hub) AwaitIn(ctx context.Context, t *Term, id uint64, need int, timeout time.Duration) (acks int, err error) {
	var w *Wait // only for a write that may wait: w=1, the common case, allocates nothing
	if need > 1 {
		h.hurry(id) // the sessions may hold id back (see Options.Linger); a write waits for it
		w = NewWait(id, need-1)
	}
	h.mu.Lock()
	if h.opts.Failover && (t == nil || h.term != t) {
		h.mu.Unlock()
		return 1, &DeposedError{ID: id, Acks: 1}
	}
	if w == nil || h.members.Add(w) {
		acks = h.members.Acks(id)
		h.mu.Unlock()
		return acks, nil
	}
	if id < h.first.Load() { // dropped before it could wait
		h.members.Cancel(w)
		acks = h.members.Acks(id)
		h.mu.Unlock()
		return acks, &RetainedError{ID: id, Acks: acks, Need: need}
	}
	h.mu.Unlock()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.Done:
		if w.Ended { // the term ended: EndTerm took the wait out
			return 1 + w.Holders, &DeposedError{ID: id, Acks: 1 + w.Holders}
		}
		if !w.Dropped { // met: the tracker counted the holders when it let the wait go
			return 1 + w.Holders, nil
		}
	case <-expired:
		err = &ConcernError{Need: need, Timeout: timeout}
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	h.mu.Lock()
	if h.opts.Failover && h.term != t {
		h.mu.Unlock()
		return 1, &DeposedError{ID: id, Acks: 1}
	}
	h.members.Cancel(w)
	acks = h.members.Acks(id)
	h.mu.Unlock()
	if acks >= need {
		return acks, nil
	}
	if w.Dropped {
		return acks, &RetainedError{ID: id, Acks: acks, Need: need}
	}
	if ce, ok := err.(*ConcernError); ok {
		ce.Acks = acks
	}
	return acks, err
}

// Secondaries reports every secondary still listed, connected or not, by
// name.
func (h *Hub) Secondaries() []SecondaryStatus {
	last := h.store.LastID() // before the lock: the store has locks of its own
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.members.Status(h.now(), last)
}

// HealthyNodes counts the nodes, master included, that are healthy now.
func (h *Hub) HealthyNodes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.members.HealthyNodes(h.now())
}

// Waiting counts the appends waiting for their write concern.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.members.Waiting()
}

// tickLoop forgets long-gone secondaries and records health changes as
// events, on a ticker, so that the read paths (GET /health) only read.
func (h *Hub) tickLoop() {
	every := min(max(h.opts.ForgetAfter/4, time.Millisecond), h.opts.HeartbeatInterval/4)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.mu.Lock()
			now := h.now()
			gone := h.forget(now)
			for _, c := range h.members.Changes(now) {
				h.events.Add(now, "health", c.Name, string(c.From)+" → "+string(c.To))
			}
			h.mu.Unlock()
			h.logForgotten(gone)
		case <-h.ctx.Done():
			return
		}
	}
}

// forget drops the secondaries gone for ForgetAfter, recording an event
// for each, and returns them for logForgotten. Called with mu held.
func (h *Hub) forget(now time.Time) []string {
	gone := h.members.Forget(now)
	for _, name := range gone {
		h.events.Add(now, "forgotten", name, forgottenWhy)
	}
	return gone
}

// forgottenWhy is why Membership.Forget drops a name: it says both rules,
// as the hub is not told which one applied.
var forgottenWhy = "disconnected for longer than FORGET_SECONDARY_AFTER, or gone (a new name joined since) for longer than " + ForgetReplacedAfter.String()

func (h *Hub) logForgotten(names []string) {
	for _, name := range names {
		h.log.Info("forgot a secondary: "+forgottenWhy,
			zap.String("peer", name), zap.Duration("forgetAfter", h.opts.ForgetAfter),
			zap.Duration("forgetReplacedAfter", ForgetReplacedAfter))
	}
}

// Note adds an event of this node's own (a rollback while it followed
// another leader) to the events the dashboard shows.
func (h *Hub) Note(kind, name, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events.Add(h.now(), kind, name, detail)
}

// Events returns the newest events, oldest first.
func (h *Hub) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events.List()
}

// join adds a session for a peer whose stream starts at start. A
// secondary that reconnects replaces its old session: the old one is told
// to close, and from this moment its acks no longer count, so it may take
// its time.
func (h *Hub) join(s *session, start Start) bool {
	h.mu.Lock()
	if h.term != s.term { // the term ended while the peer said hello
		h.mu.Unlock()
		return false
	}
	h.lastID++
	s.id = h.lastID
	h.sessions[s.id] = s
	s.counters = &Counters{}
	var old *session
	var done []*Wait
	var gone []string
	if !s.observer {
		now := h.now()
		gone = h.forget(now)
		var replaced SessionID
		replaced, done = h.members.Register(s.name, s.id, start.From-1, now)
		old = h.sessions[replaced]
		s.counters = h.members.Counters(s.name)
		h.members.SetFaults(s.name, s.id, s.faults.enabled, s.faults.inForce)
		h.events.Add(now, "connected", s.name, fmt.Sprintf("streaming from id %d", start.From))
		if start.Resync {
			h.events.Add(now, "resync", s.name, "holds another log; resyncing from id 1")
		}
		if old != nil {
			h.events.Add(now, "replaced", s.name, "reconnected; the old session is closed")
		}
	}
	h.publish()
	h.mu.Unlock()
	h.logForgotten(gone)
	release(done)
	if old != nil {
		h.log.Info("secondary reconnected; replacing its old session", zap.String("peer", s.name))
		old.cancel(errReplaced)
	}
	return true
}

// leave removes a session that ended.
func (h *Hub) leave(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, s.id)
	if owner, _ := h.members.Owner(s.name); !s.observer && owner == s.id {
		h.members.Disconnect(s.name, s.id)
		h.events.Add(h.now(), "disconnected", s.name, "")
	}
	h.publish()
}

// publish replaces the copy of the sessions that Notify reads. Called
// with mu held.
func (h *Hub) publish() {
	peers := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		peers = append(peers, s)
	}
	h.peers.Store(&peers)
}

// seen records that s's peer was heard from.
func (h *Hub) seen(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members.Seen(s.name, s.id, h.now())
}

// heard records that s's peer was heard from and holds every id up to
// id, and wakes the writes that satisfies: one lock for both.
func (h *Hub) heard(s *session, id uint64) {
	counts := h.countsCommit()
	var last uint64
	if counts {
		last = h.store.LastID() // before the lock: the store has locks of its own
	}
	h.mu.Lock()
	h.members.Seen(s.name, s.id, h.now())
	done := h.members.Hold(s.name, s.id, id)
	var commit uint64
	if counts {
		commit = h.members.tracker.Committed(majority(h.opts.ClusterSize), last)
	}
	h.mu.Unlock()
	release(done)
	if commit > 0 {
		h.opts.Commit.Raise(commit)
	}
}

// Fault control errors, for SetFaults.
var (
	ErrUnknownSecondary = errors.New("no such secondary is connected")
	ErrNoFaultControl   = errors.New("the secondary does not take fault control (it runs without FAULTS_API=true)")
	ErrNoConfirmation   = errors.New("the secondary did not confirm the change in time")
)

// FaultsError is a secondary refusing a change of its faults.
type FaultsError struct{ Msg string }

func (e *FaultsError) Error() string { return "the secondary refused: " + e.Msg }

// faultsConfirmTimeout bounds the wait for a secondary's answer.
const faultsConfirmTimeout = 5 * time.Second

// SetFaults asks the secondary name to change its injected faults and
// returns what it says is in force then.
func (h *Hub) SetFaults(ctx context.Context, name string, change frame.Faults) (frame.Faults, error) {
	h.mu.Lock()
	id, ok := h.members.Owner(name)
	s := h.sessions[id]
	control := h.members.FaultControl(name)
	h.mu.Unlock()
	switch {
	case !ok || s == nil:
		return frame.Faults{}, fmt.Errorf("%w: %q", ErrUnknownSecondary, name)
	case !control:
		return frame.Faults{}, ErrNoFaultControl
	}
	ctx, cancel := context.WithTimeout(ctx, faultsConfirmTimeout)
	defer cancel()
	req := faultsRequest{change: change, answer: make(chan frame.Frame, 1)}
	select {
	case s.faults.requests <- req:
	case <-s.ctx.Done():
		return frame.Faults{}, fmt.Errorf("%w: %q", ErrUnknownSecondary, name)
	case <-ctx.Done():
		return frame.Faults{}, ErrNoConfirmation
	}
	select {
	case a := <-req.answer:
		if a.Error != "" {
			return frame.Faults{}, &FaultsError{Msg: a.Error}
		}
		return *a.Faults, nil
	case <-s.ctx.Done():
		return frame.Faults{}, fmt.Errorf("%w: %q (it disconnected)", ErrUnknownSecondary, name)
	case <-ctx.Done():
		return frame.Faults{}, ErrNoConfirmation
	}
}

// faultsAnswered records what s's peer said is in force.
func (h *Hub) faultsAnswered(s *session, f *frame.Faults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members.SetFaults(s.name, s.id, s.faults.enabled, f)
	detail := ""
	if f != nil && f.ReplicationDelay != nil && f.FailRate != nil && f.CutOff != nil {
		detail = fmt.Sprintf("replicationDelay %s, failRate %g, cutOff %t", *f.ReplicationDelay, *f.FailRate, *f.CutOff)
	}
	h.events.Add(h.now(), "faults", s.name, detail)
}

// release tells satisfied writes; outside the lock, as it wakes others.
func release(done []*Wait) {
	for _, w := range done {
		close(w.Done)
	}
}
