package replication

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/replog/replog/shared/frame"
)

// SessionID names one replication session. A secondary has a new session
// each time it connects; only the newest speaks for its name.
type SessionID uint64

// Membership decides who the master replicates to: which session speaks
// for each secondary's name, which names are still listed, what each
// holds (a Tracker) and how healthy each is (a Health). It is pure: the
// time comes in as an argument and it does no I/O. Not safe for
// concurrent use; the Hub locks around it.
//
// Its rules:
//   - Only the newest session of a name counts: a replaced session's late
//     ack could claim ids that a restarted, emptied node no longer holds,
//     and its frames say nothing of the node's health.
//   - A name stays listed (unhealthy once disconnected) until it has been
//     silent and disconnected for forgetAfter, then it is forgotten, so
//     that replicas replaced for good do not stay listed forever.
//   - A disconnected name is gone once a name new to the master has
//     joined since it was last heard from: it was most likely replaced
//     (compose names a scaled replica by its container, and a recreated
//     one comes back under a new name). It is reported apart, not as a
//     failing replica, and forgotten after ForgetReplacedAfter (or
//     forgetAfter, if sooner). Should it come back, it is listed again.
type Membership struct {
	forgetAfter time.Duration
	newest      time.Time             // when a name new to the master last registered
	owners      map[string]SessionID  // connected names → the session that speaks for each
	tracker     *Tracker              // what every listed name holds; the writes waiting for them
	health      *Health               // every listed name: when last heard from, connected or not
	counters    map[string]*Counters  // every listed name
	faults      map[string]peerFaults // connected names: what their hello or last answer said
	statuses    map[string]Status     // every listed name, as Changes last saw it
}

type peerFaults struct {
	control bool          // it takes fault changes (FAULTS_API=true)
	inForce *frame.Faults // nil if it never said
}

// StatusChange is a secondary's health moving from one state to another.
type StatusChange struct {
	Name     string
	From, To Status
}

// Counters count what the master sent a secondary and heard back, over all
// its sessions. Its sessions add to them without the hub's lock.
type Counters struct {
	MessagesSent, FramesSent, AcksReceived, NacksReceived, Sessions atomic.Uint64
}

// NewMembership returns a membership for heartbeats every interval that
// forgets a disconnected secondary after forgetAfter.
func NewMembership(interval, forgetAfter time.Duration) *Membership {
	return &Membership{
		forgetAfter: forgetAfter,
		owners:      map[string]SessionID{},
		tracker:     NewTracker(),
		health:      NewHealth(interval),
		counters:    map[string]*Counters{},
		faults:      map[string]peerFaults{},
		statuses:    map[string]Status{},
	}
}

// Register makes session id the one that speaks for name, whose hello at
// now said it holds every id up to held. It returns the session it
// replaces (0 if none), which the caller must end, and the waits that
// name's position satisfies now.
func (m *Membership) Register(name string, id SessionID, held uint64, now time.Time) (replaced SessionID, done []*Wait) {
	if _, listed := m.counters[name]; !listed {
		m.newest = now
	}
	replaced = m.owners[name]
	m.owners[name] = id
	m.health.Seen(name, now)
	m.Counters(name).Sessions.Add(1)
	return replaced, m.tracker.Hold(name, held)
}

// Counters are name's counters, made when first asked for.
func (m *Membership) Counters(name string) *Counters {
	c := m.counters[name]
	if c == nil {
		c = &Counters{}
		m.counters[name] = c
	}
	return c
}

// Seen records that session id of name was heard from at now.
func (m *Membership) Seen(name string, id SessionID, now time.Time) {
	if m.owners[name] == id {
		m.health.Seen(name, now)
	}
}

// Hold records that session id of name holds every id up to held, and
// returns the waits that satisfies.
func (m *Membership) Hold(name string, id SessionID, held uint64) []*Wait {
	if m.owners[name] != id {
		return nil
	}
	return m.tracker.Hold(name, held)
}

// Disconnect records that session id of name ended. A session already
// replaced changes nothing: its successor speaks for the name.
func (m *Membership) Disconnect(name string, id SessionID) {
	if m.owners[name] != id {
		return
	}
	delete(m.owners, name)
	delete(m.faults, name)
	m.health.Disconnected(name)
}

// Owner is the session that speaks for name, if it is connected.
func (m *Membership) Owner(name string) (SessionID, bool) {
	id, ok := m.owners[name]
	return id, ok
}

// SetFaults records what session id of name said of its faults: whether
// it takes changes, and what is in force (nil: not said).
func (m *Membership) SetFaults(name string, id SessionID, control bool, inForce *frame.Faults) {
	if m.owners[name] == id {
		m.faults[name] = peerFaults{control: control, inForce: inForce}
	}
}

// FaultControl reports whether name's session takes fault changes.
func (m *Membership) FaultControl(name string) bool { return m.faults[name].control }

// Changes returns how the secondaries' health changed since it was last
// called, by name: each new name first "appears" as unhealthy, and a
// forgotten one is dropped without a change.
func (m *Membership) Changes(now time.Time) []StatusChange {
	var out []StatusChange
	names := m.health.Names()
	for _, name := range names {
		was, seen := m.statuses[name]
		if !seen {
			was = Unhealthy
		}
		if is := m.health.Status(name, now); is != was || !seen {
			m.statuses[name] = is
			if is != was {
				out = append(out, StatusChange{Name: name, From: was, To: is})
			}
		}
	}
	for name := range m.statuses {
		if !slices.Contains(names, name) {
			delete(m.statuses, name)
		}
	}
	return out
}

// ForgetReplacedAfter is how long a gone (replaced) secondary stays
// listed: long enough to be seen leaving, not so long that it reads as a
// failing replica.
const ForgetReplacedAfter = 5 * time.Minute

// Forget drops the names disconnected and silent for forgetAfter at now,
// and the gone ones silent for ForgetReplacedAfter, and returns them.
func (m *Membership) Forget(now time.Time) []string {
	gone := m.health.Gone(now, m.forgetAfter)
	for _, name := range m.health.Gone(now, min(m.forgetAfter, ForgetReplacedAfter)) {
		if m.replaced(name) && !slices.Contains(gone, name) {
			gone = append(gone, name)
		}
	}
	for _, name := range gone {
		m.health.Forget(name)
		m.tracker.Forget(name)
		delete(m.counters, name)
	}
	slices.Sort(gone)
	return gone
}

// replaced says whether name is gone: disconnected, with a name new to
// the master registered since it was last heard from.
func (m *Membership) replaced(name string) bool {
	_, connected := m.owners[name]
	return !connected && m.newest.After(m.health.LastSeen(name))
}

// Add registers w; it reports true, keeping nothing, if w is satisfied.
func (m *Membership) Add(w *Wait) bool { return m.tracker.Add(w) }

// DropBelow removes the waits for ids retention dropped.
func (m *Membership) DropBelow(id uint64) []*Wait { return m.tracker.DropBelow(id) }

// Cancel drops w.
func (m *Membership) Cancel(w *Wait) { m.tracker.Cancel(w) }

// Acks counts the nodes, master included, that hold id.
func (m *Membership) Acks(id uint64) int { return 1 + m.tracker.Holders(id) }

// Waiting counts the writes waiting for their write concern.
func (m *Membership) Waiting() int { return m.tracker.Waiting() }

// HealthyNodes counts the nodes, master included, healthy at now.
func (m *Membership) HealthyNodes(now time.Time) int { return 1 + m.health.CountHealthy(now) }

// SecondaryStatus is what /health says of one secondary.
type SecondaryStatus struct {
	Name      string `json:"name"`
	Status    Status `json:"status"`
	Connected bool   `json:"connected"`
	AckedID   uint64 `json:"ackedId"`
	Lag       uint64 `json:"lag"`
	// Gone: disconnected, and a secondary new to the master joined since
	// it was last heard from, so it was most likely replaced (see
	// Membership); it is forgotten after ForgetReplacedAfter.
	Gone bool `json:"gone,omitempty"`
	// LastSeen is when the secondary was last heard from (RFC 3339).
	LastSeen string `json:"lastSeen,omitempty"`
	// What the master sent it and heard back, over all its sessions.
	MessagesSent  uint64 `json:"-"`
	FramesSent    uint64 `json:"-"`
	AcksReceived  uint64 `json:"-"`
	NacksReceived uint64 `json:"-"`
	Sessions      uint64 `json:"-"`
	// FaultControl says whether it takes fault changes from the master;
	// Faults, what it said is in force (absent if it never said).
	FaultControl bool          `json:"faultControl"`
	Faults       *frame.Faults `json:"faults,omitempty"`
}

// Status reports every listed secondary at now, by name, given the
// master's last id.
func (m *Membership) Status(now time.Time, last uint64) []SecondaryStatus {
	names := m.health.Names()
	out := make([]SecondaryStatus, 0, len(names))
	for _, name := range names {
		acked, _ := m.tracker.Held(name)
		s := SecondaryStatus{Name: name, Status: m.health.Status(name, now), AckedID: acked,
			Lag: last - min(acked, last)}
		_, s.Connected = m.owners[name]
		s.Gone = m.replaced(name)
		c := m.Counters(name)
		s.MessagesSent, s.FramesSent = c.MessagesSent.Load(), c.FramesSent.Load()
		s.AcksReceived, s.NacksReceived, s.Sessions = c.AcksReceived.Load(), c.NacksReceived.Load(), c.Sessions.Load()
		s.FaultControl, s.Faults = m.faults[name].control, m.faults[name].inForce
		if seen := m.health.LastSeen(name); !seen.IsZero() {
			s.LastSeen = seen.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, s)
	}
	return out
}
