package replication

import (
	"slices"
	"time"
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
type Membership struct {
	forgetAfter time.Duration
	owners      map[string]SessionID // connected names → the session that speaks for each
	tracker     *Tracker             // what every listed name holds; the writes waiting for them
	health      *Health              // every listed name: when last heard from, connected or not
}

// NewMembership returns a membership for heartbeats every interval that
// forgets a disconnected secondary after forgetAfter.
func NewMembership(interval, forgetAfter time.Duration) *Membership {
	return &Membership{
		forgetAfter: forgetAfter,
		owners:      map[string]SessionID{},
		tracker:     NewTracker(),
		health:      NewHealth(interval),
	}
}

// Register makes session id the one that speaks for name, whose hello at
// now said it holds every id up to held. It returns the session it
// replaces (0 if none), which the caller must end, and the waits that
// name's position satisfies now.
func (m *Membership) Register(name string, id SessionID, held uint64, now time.Time) (replaced SessionID, done []*Wait) {
	replaced = m.owners[name]
	m.owners[name] = id
	m.health.Seen(name, now)
	return replaced, m.tracker.Hold(name, held)
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
	m.health.Disconnected(name)
}

// Forget drops the names disconnected and silent for forgetAfter at now,
// and returns them.
func (m *Membership) Forget(now time.Time) []string {
	gone := m.health.Gone(now, m.forgetAfter)
	for _, name := range gone {
		m.health.Forget(name)
		m.tracker.Forget(name)
	}
	slices.Sort(gone)
	return gone
}

// Add registers w; it reports true, keeping nothing, if w is satisfied.
func (m *Membership) Add(w *Wait) bool { return m.tracker.Add(w) }

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
	// LastSeen is when the secondary was last heard from (RFC 3339).
	LastSeen string `json:"lastSeen,omitempty"`
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
		if seen := m.health.LastSeen(name); !seen.IsZero() {
			s.LastSeen = seen.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, s)
	}
	return out
}
