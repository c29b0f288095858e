package replication

import (
	"slices"
	"time"

	"github.com/replog/replog/shared/frame"
)

// Status is how the master judges a secondary from its heartbeat answers.
type Status string

// Health states: healthy while answers arrive, suspected after
// SuspectAfter intervals of silence, unhealthy after UnhealthyAfter or
// once disconnected.
const (
	Healthy   Status = "healthy"
	Suspected Status = "suspected"
	Unhealthy Status = "unhealthy"
)

// Silence thresholds, in heartbeat intervals: the protocol's, which the
// secondaries judge the master by too.
const (
	SuspectAfter   = frame.SuspectAfter
	UnhealthyAfter = frame.UnhealthyAfter
)

// Health judges secondaries by when they were last heard from. It is pure:
// the time comes in as an argument, so tests need no clock. Not safe for
// concurrent use.
type Health struct {
	interval time.Duration
	peers    map[string]*peerHealth
}

type peerHealth struct {
	lastSeen  time.Time
	connected bool
}

// NewHealth returns a tracker for heartbeats sent every interval.
func NewHealth(interval time.Duration) *Health {
	return &Health{interval: interval, peers: map[string]*peerHealth{}}
}

// Seen records that name was heard from at now (any frame counts).
func (h *Health) Seen(name string, now time.Time) {
	p := h.peers[name]
	if p == nil {
		p = &peerHealth{}
		h.peers[name] = p
	}
	p.lastSeen, p.connected = now, true
}

// Disconnected records that name's session ended.
func (h *Health) Disconnected(name string) {
	if p := h.peers[name]; p != nil {
		p.connected = false
	}
}

// Status judges name at now.
func (h *Health) Status(name string, now time.Time) Status {
	p := h.peers[name]
	if p == nil || !p.connected {
		return Unhealthy
	}
	silence := now.Sub(p.lastSeen)
	switch {
	case silence >= UnhealthyAfter*h.interval:
		return Unhealthy
	case silence >= SuspectAfter*h.interval:
		return Suspected
	}
	return Healthy
}

// LastSeen is when name was last heard from; zero if never.
func (h *Health) LastSeen(name string) time.Time {
	if p := h.peers[name]; p != nil {
		return p.lastSeen
	}
	return time.Time{}
}

// CountHealthy counts the healthy secondaries at now.
func (h *Health) CountHealthy(now time.Time) int {
	n := 0
	for name := range h.peers {
		if h.Status(name, now) == Healthy {
			n++
		}
	}
	return n
}

// Gone lists the secondaries disconnected and silent for at least after:
// an operator has long seen them missing, and they are to be forgotten.
func (h *Health) Gone(now time.Time, after time.Duration) []string {
	var out []string
	for name, p := range h.peers {
		if !p.connected && now.Sub(p.lastSeen) >= after {
			out = append(out, name)
		}
	}
	return out
}

// Names lists every secondary known, sorted.
func (h *Health) Names() []string {
	names := make([]string, 0, len(h.peers))
	for name := range h.peers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Forget drops name.
func (h *Health) Forget(name string) { delete(h.peers, name) }
