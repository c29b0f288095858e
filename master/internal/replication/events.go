package replication

import "time"

// Event is one thing an operator or a student watching the dashboard
// wants to see happen: a secondary connecting, disconnecting, being
// replaced, resyncing, changing health, being forgotten, or its faults
// changing.
type Event struct {
	Time      string `json:"time"` // RFC 3339
	Kind      string `json:"kind"` // connected, disconnected, replaced, resync, health, forgotten, faults; with failover leading, stepped-down, rolled-back
	Secondary string `json:"secondary"`
	Detail    string `json:"detail,omitempty"`
}

// Events keeps the newest events, oldest first. Not safe for concurrent
// use; the Hub locks around it.
type Events struct {
	max  int
	list []Event
}

// NewEvents keeps the newest max events.
func NewEvents(max int) *Events { return &Events{max: max} }

// Add records an event at now.
func (e *Events) Add(now time.Time, kind, secondary, detail string) {
	e.list = append(e.list, Event{Time: now.UTC().Format(time.RFC3339Nano), Kind: kind, Secondary: secondary, Detail: detail})
	if len(e.list) > e.max {
		e.list = append(e.list[:0], e.list[len(e.list)-e.max:]...)
	}
}

// List returns a copy of the events, oldest first.
func (e *Events) List() []Event { return append([]Event(nil), e.list...) }
