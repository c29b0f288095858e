// Package replication is the master's side of replog's replication: one
// session per connected peer that streams the log to it, and the tracker
// that turns the secondaries' acks into satisfied write concerns.
package replication

import (
	"context"
	"slices"
	"sync"
	"time"

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
	// HeartbeatInterval is how often each secondary is sent a heartbeat,
	// and the unit of the health thresholds.
	HeartbeatInterval time.Duration
	// Token, when set, must be presented as "Authorization: Bearer …" by
	// every peer that dials /replicate.
	Token string
	// ForgetAfter is how long a disconnected secondary stays listed (as
	// unhealthy) before the master forgets it.
	ForgetAfter time.Duration
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
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.ForgetAfter == 0 {
		o.ForgetAfter = time.Hour
	}
	return o
}

// maxFrameBytes is the largest append frame a session builds: a full batch,
// or one message of the largest size with every byte escaped.
func (o Options) maxFrameBytes() int64 {
	return int64(max(frame.EncodedEntrySize(o.BatchBytes), frame.EncodedEntrySize(o.MaxMessageBytes))) + 64
}

// Hub owns every replication session of the master.
//
// Lock order: mu before a session's mu; stateMu is a leaf, never held
// while taking another lock.
type Hub struct {
	log   *zap.Logger
	store store.Store
	opts  Options
	ctx   context.Context // cancelled by Close; every session derives from it
	stop  context.CancelCauseFunc
	wg    sync.WaitGroup // every session handler

	mu        sync.RWMutex
	sessions  map[string]*session // guarded by mu; connected secondaries by name
	observers map[*session]bool   // guarded by mu
	known     []string            // guarded by mu; every secondary name ever seen, sorted

	stateMu sync.Mutex
	tracker *Tracker            // guarded by stateMu
	health  *Health             // guarded by stateMu
	owners  map[string]*session // guarded by stateMu; the session that speaks for a name
}

// NewHub returns a hub that streams st to the peers that dial it.
func NewHub(st store.Store, opts Options, log *zap.Logger) *Hub {
	ctx, stop := context.WithCancelCause(context.Background())
	return &Hub{
		log:       log,
		store:     st,
		opts:      opts.withDefaults(),
		ctx:       ctx,
		stop:      stop,
		sessions:  map[string]*session{},
		observers: map[*session]bool{},
		tracker:   NewTracker(),
		health:    NewHealth(opts.withDefaults().HeartbeatInterval),
		owners:    map[string]*session{},
	}
}

// Close ends every session, telling each peer the master is going away,
// and waits for them.
func (h *Hub) Close() {
	h.mu.Lock() // so that no handler is counted after the wait starts
	h.stop(errShuttingDown)
	h.mu.Unlock()
	h.wg.Wait()
}

// Notify tells every session that the log grew. It never blocks: a
// session that is already awake or busy will see the new entries anyway.
func (h *Hub) Notify() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.sessions {
		s.poke()
	}
	for s := range h.observers {
		s.poke()
	}
}

// Wait registers a write of id that needs need secondaries. The returned
// wait's Done is closed once they hold it; nil means it already is.
func (h *Hub) Wait(id uint64, need int) *Wait {
	if need <= 0 {
		return nil
	}
	w := NewWait(id, need)
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if h.tracker.Add(w) {
		return nil
	}
	return w
}

// Cancel drops a wait whose client went away. The write stays in the log
// and keeps replicating.
func (h *Hub) Cancel(w *Wait) {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	h.tracker.Cancel(w)
}

// Holders counts the secondaries that hold id.
func (h *Hub) Holders(id uint64) int {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	return h.tracker.Holders(id)
}

// hold records a secondary's position and wakes the writes it satisfies.
// Only the newest session of a name speaks for it: a replaced session's
// late ack could claim ids that a restarted, emptied node no longer holds.
func (h *Hub) hold(s *session, id uint64) {
	h.stateMu.Lock()
	if h.owners[s.name] != s {
		h.stateMu.Unlock()
		return
	}
	done := h.tracker.Hold(s.name, id)
	h.stateMu.Unlock()
	for _, w := range done {
		close(w.Done)
	}
}

// SecondaryStatus is what /health says of one secondary.
type SecondaryStatus struct {
	Name      string `json:"name"`
	Status    Status `json:"status"`
	Connected bool   `json:"connected"`
	AckedID   uint64 `json:"ackedId"`
	Lag       uint64 `json:"lag"`
	// LastSeen is when the secondary was last heard from (RFC 3339).
	LastSeen string `json:"lastSeen,omitempty"`
}

// Secondaries reports every secondary seen within ForgetAfter, connected
// or not, by name.
func (h *Hub) Secondaries() []SecondaryStatus {
	h.forgetGone()
	last := h.store.LastID()
	h.mu.RLock()
	out := make([]SecondaryStatus, 0, len(h.known))
	for _, name := range h.known {
		out = append(out, SecondaryStatus{Name: name, Connected: h.sessions[name] != nil})
	}
	h.mu.RUnlock()
	now := time.Now()
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	for i := range out {
		s := &out[i]
		acked, _ := h.tracker.Held(s.Name)
		s.AckedID, s.Lag, s.Status = acked, last-min(acked, last), h.health.Status(s.Name, now)
		if seen := h.health.LastSeen(s.Name); !seen.IsZero() {
			s.LastSeen = seen.UTC().Format(time.RFC3339Nano)
		}
	}
	return out
}

// forgetGone drops the secondaries disconnected for longer than
// ForgetAfter, so that replicas replaced for good (a container recreated
// under a new name) do not stay listed forever.
func (h *Hub) forgetGone() {
	h.stateMu.Lock()
	gone := h.health.Gone(time.Now(), h.opts.ForgetAfter)
	for _, name := range gone {
		h.health.Forget(name)
		h.tracker.Forget(name)
		delete(h.owners, name)
	}
	h.stateMu.Unlock()
	if len(gone) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.known = slices.DeleteFunc(h.known, func(name string) bool {
		return h.sessions[name] == nil && slices.Contains(gone, name) // a reconnect in between keeps it
	})
	for _, name := range gone {
		h.log.Info("forgot a secondary disconnected for longer than the retention", zap.String("peer", name),
			zap.Duration("forgetAfter", h.opts.ForgetAfter))
	}
}

// HealthyNodes counts the nodes, master included, that are healthy now.
func (h *Hub) HealthyNodes() int {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	return 1 + h.health.CountHealthy(time.Now())
}

// seen records that s's peer was heard from.
func (h *Hub) seen(s *session) {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if h.owners[s.name] == s {
		h.health.Seen(s.name, time.Now())
	}
}

// register makes s the session of its name. A secondary that reconnects
// replaces its old session: the old one is told to close, and from this
// moment its acks no longer count (see hold), so it may take its time.
func (h *Hub) register(s *session) {
	h.mu.Lock()
	if s.observer {
		h.observers[s] = true
		h.mu.Unlock()
		return
	}
	old := h.sessions[s.name]
	h.sessions[s.name] = s
	if !slices.Contains(h.known, s.name) {
		h.known = append(h.known, s.name)
		slices.Sort(h.known)
	}
	h.mu.Unlock()
	h.stateMu.Lock()
	h.owners[s.name] = s
	h.health.Seen(s.name, time.Now()) // its hello just arrived
	h.stateMu.Unlock()
	if old != nil {
		h.log.Info("secondary reconnected; replacing its old session", zap.String("peer", s.name))
		old.cancel(errReplaced)
	}
}

func (h *Hub) unregister(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.observer {
		delete(h.observers, s)
	} else if h.sessions[s.name] == s {
		delete(h.sessions, s.name)
	}
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if h.owners[s.name] == s {
		h.health.Disconnected(s.name)
	}
}
