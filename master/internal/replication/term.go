package replication

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// Term is one epoch led by this node in a cluster with failover
// (docs/FAILOVER.md); a hub without one (Options.Failover false) is a
// single master, exactly as before failover existed. The failover package
// makes a Term when its node wins an election and ends it when the node
// stops leading; the hub streams the log only while a term is current,
// stamps its frames with the term's epoch, and tells the term what each
// follower acked.
type Term struct {
	Epoch   uint64
	History epoch.History // the leader's, ending with this epoch's start
	Name    string        // the leader's NODE_NAME
	URL     string        // the leader's ADVERTISE_URL
	Voters  string        // the voter set's digest (election.VoterSet)

	// The hooks the hub calls from session goroutines; each must be quick
	// and must not call the hub.
	Ack      func(node string, id uint64) // a voter acked id in this epoch
	Heard    func(node string)            // a voter was heard from (any frame of this epoch)
	Promote  func(node string)            // a standby asks for a switchover (POST /promote on it)
	SawEpoch func(e uint64)               // a hello carried a promise above this epoch: a successor may exist
	Learner  func(node string)            // a node said it lost its data directory: its old acks count no more

	// gate orders appends against the term's end: an append of this term
	// holds it for reading from its check to its store call, End holds it
	// for writing, so that no record of this epoch is appended once the
	// node follows another leader (the follower then writes the log). It is
	// held across the store's append, I/O, on purpose: that is what it
	// orders. No other lock is taken while it is held.
	gate   sync.RWMutex
	ended  bool
	paused bool // a switchover: no appends until Resume
	endCh  chan struct{}
}

// Errors of a term's appends and waits.
var (
	// ErrNotLeading: the term ended (or none is current); nothing was
	// appended by the call that returns it.
	ErrNotLeading = errors.New("this node does not lead")
	// ErrHandingOff: a switchover is under way; nothing was appended.
	ErrHandingOff = errors.New("switching over to another leader")
)

// DeposedError is a write that was appended at ID in a term that ended
// before its write concern was met: its outcome is unknown (a later
// leader may or may not hold it), like a 504's.
type DeposedError struct {
	ID   uint64
	Acks int
}

func (e *DeposedError) Error() string {
	return fmt.Sprintf("leadership lost while waiting for the write concern of id %d; outcome unknown", e.ID)
}

// NewTerm returns a term ready to start (Hub.StartTerm); the caller fills
// the hooks first.
func NewTerm(e uint64, h epoch.History, name, url, voters string) *Term {
	return &Term{Epoch: e, History: h, Name: name, URL: url, Voters: voters, endCh: make(chan struct{})}
}

// Append appends recs to st as records of this epoch, unless the term has
// ended (ErrNotLeading, nothing appended).
func (t *Term) Append(st store.Store, recs []store.Record) (uint64, error) {
	t.gate.RLock()
	defer t.gate.RUnlock()
	if t.ended {
		return 0, ErrNotLeading
	}
	if t.paused {
		return 0, ErrHandingOff
	}
	if t.Epoch > 1 {
		for i := range recs {
			recs[i].Epoch = t.Epoch
		}
	}
	return st.Append(recs...)
}

// Pause stops the term's appends (a switchover) once none is under way.
func (t *Term) Pause() {
	t.gate.Lock()
	defer t.gate.Unlock()
	t.paused = true
}

// Resume takes appends again (a switchover that did not happen).
func (t *Term) Resume() {
	t.gate.Lock()
	defer t.gate.Unlock()
	t.paused = false
}

// end marks the term ended once no append of it is under way; it reports
// whether it was the one to end it.
func (t *Term) end() bool {
	t.gate.Lock()
	defer t.gate.Unlock()
	if t.ended {
		return false
	}
	t.ended = true
	close(t.endCh)
	return true
}

// Ended is closed when the term has ended.
func (t *Term) Ended() <-chan struct{} { return t.endCh }

// hello checks a follower's hello against the term and decides where its
// stream starts: after the last id at which its log agrees with the
// leader's (docs/FAILOVER.md, "The epoch start"), so that it moves its
// diverged tail to rollback/ first.
func (t *Term) hello(logID string, last uint64, hello frame.Frame) (Start, error) {
	if hello.Epoch > t.Epoch {
		if t.SawEpoch != nil {
			t.SawEpoch(hello.Epoch)
		}
		return Start{}, fmt.Errorf("%s promised epoch %d, above this leader's %d", hello.Name, hello.Epoch, t.Epoch)
	}
	if hello.Role == frame.RoleStandby && hello.Voters != t.Voters {
		return Start{}, fmt.Errorf("%s counts majorities over another voter set (digest %q, this leader's %q): CLUSTER_SIZE and PEERS must be the same on every node",
			hello.Name, hello.Voters, t.Voters)
	}
	if hello.Role == frame.RoleObserver {
		return Start{From: min(hello.LastID, last) + 1}, nil
	}
	if hello.LogID != logID {
		return Start{From: 1, Resync: hello.LastID > 0}, nil
	}
	theirs := HistoryOf(hello.History())
	if err := epoch.CheckEpochOne(t.History, last, theirs, hello.LastID); err != nil {
		return Start{}, fmt.Errorf("%s: %w", hello.Name, err)
	}
	keep := epoch.Diverge(t.History, epoch.Open, theirs, hello.LastID)
	return Start{From: keep + 1, Keep: keep}, nil
}

// HistoryOf converts a frame's history to an epoch.History.
func HistoryOf(f []frame.EpochStart) epoch.History {
	h := make(epoch.History, len(f))
	for i, s := range f {
		h[i] = epoch.Start{Epoch: s.Epoch, FirstID: s.FirstID}
	}
	return h
}

// FrameHistory converts an epoch.History to a frame's.
func FrameHistory(h epoch.History) []frame.EpochStart {
	f := make([]frame.EpochStart, len(h))
	for i, s := range h {
		f[i] = frame.EpochStart{Epoch: s.Epoch, FirstID: s.FirstID}
	}
	return f
}

// errSteppedDown ends every session of a term that ended: the followers
// redial and find the node's standby side, or the new leader.
var errSteppedDown = errors.New("stepped down: this node no longer leads")

// StartTerm makes t the hub's current term: from now on followers that
// dial are streamed this epoch's log. The membership starts afresh, so
// that no ack of an earlier term counts in this one.
func (h *Hub) StartTerm(t *Term) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.term = t
	h.members = NewMembership(h.opts.HeartbeatInterval, h.opts.ForgetAfter)
	h.events.Add(h.now(), "leading", t.Name, fmt.Sprintf("leads epoch %d", t.Epoch))
}

// EndTerm ends t if it is the current term: no append of it is under way
// when EndTerm returns and none starts after; every write waiting for its
// write concern gets a DeposedError; every session ends, telling its
// follower why. It reports whether t was current.
func (h *Hub) EndTerm(t *Term, why string) bool {
	t.end()
	h.mu.Lock()
	if h.term != t {
		h.mu.Unlock()
		return false
	}
	h.term = nil
	waits := h.members.DropBelow(math.MaxUint64)
	for _, w := range waits {
		w.Ended = true
	}
	h.members = NewMembership(h.opts.HeartbeatInterval, h.opts.ForgetAfter)
	sessions := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.events.Add(h.now(), "stepped-down", t.Name, why)
	h.mu.Unlock()
	release(waits)
	cause := fmt.Errorf("%w (epoch %d): %s", errSteppedDown, t.Epoch, why)
	for _, s := range sessions {
		s.cancel(cause)
	}
	return true
}

// forgetHolder drops what name acked: it lost its data directory.
func (h *Hub) forgetHolder(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members.tracker.Forget(name)
}

// CurrentTerm is the term being led, nil when none.
func (h *Hub) CurrentTerm() *Term {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.term
}

// Broadcast sends f (a handoff) to every follower of the current term and
// returns, once each session wrote it or ended or wait passed, the names
// of the followers whose sessions wrote it.
func (h *Hub) Broadcast(f frame.Frame, wait time.Duration) map[string]bool {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = map[string]bool{}
	)
	for _, s := range *h.peers.Load() {
		wg.Add(1)
		name := s.name
		n := notice{f: f, done: func(ok bool) {
			if ok {
				mu.Lock()
				sent[name] = true
				mu.Unlock()
			}
			wg.Done()
		}}
		select {
		case s.notices <- n:
		default: // one is already queued: the follower is far behind, and redials into the next term anyway
			wg.Done()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(sent)
}

// notice is a frame the hub asks a session's loop to write; done is
// called once, with whether it was written.
type notice struct {
	f    frame.Frame
	done func(written bool)
}

// Held is the last id the follower name acked in the current term.
func (h *Hub) Held(name string) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.members.tracker.Held(name)
}
