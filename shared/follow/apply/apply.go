// Package apply decides what a secondary does with the entries the master
// streams: which to add to its log now, which to hold back until a gap
// fills, and when to ask the master to resend. It is pure: no sockets, no
// store; the replication client feeds it frames and acts on its answers.
package apply

import "github.com/replog/replog/shared/frame"

// DefaultMaxPending bounds the entries held back behind a gap; past it,
// further entries are dropped and come again with the resend.
const DefaultMaxPending = 65536

// Applier keeps the gap-free prefix of the log: ids 1..Last are applied,
// each once, and later ids wait in pending until the ones before arrive.
type Applier struct {
	last       uint64
	pending    map[uint64]frame.Entry // whole: an entry's epoch, key and at are stored with it
	maxPending int
	// awaiting is the id a nack asked the master to resend from; 0 when no
	// resend is outstanding. It keeps a gap from being nacked once per
	// frame that arrives behind it.
	awaiting uint64
}

// Result says what to do after a frame.
type Result struct {
	// Apply are the entries to add to the log now, in id order, each
	// exactly the next id.
	Apply []frame.Entry
	// Nack, when not 0, is the id to ask the master to resend from.
	Nack uint64
}

// New returns an applier for a log whose last id is last.
func New(last uint64, maxPending int) *Applier {
	return &Applier{last: last, pending: map[uint64]frame.Entry{}, maxPending: maxPending}
}

// Last is the last id applied: the secondary holds every id up to it and
// acks it.
func (a *Applier) Last() uint64 { return a.last }

// Receive takes an append frame's entries. Duplicates are ignored; entries
// beyond a gap are held back, and the first time a gap shows, a resend is
// requested from its first missing id.
func (a *Applier) Receive(entries []frame.Entry) Result {
	var r Result
	for _, e := range entries {
		if e.ID <= a.last {
			continue // a duplicate: already applied
		}
		if e.ID == a.last+1 {
			r.Apply = append(r.Apply, e)
			a.last++
			r.Apply = a.drain(r.Apply)
			continue
		}
		if _, held := a.pending[e.ID]; !held && len(a.pending) < a.maxPending {
			a.pending[e.ID] = e
		}
	}
	if a.awaiting != 0 && a.last >= a.awaiting {
		a.awaiting = 0 // the resend arrived
	}
	if len(a.pending) > 0 && a.awaiting == 0 {
		a.awaiting = a.last + 1
		r.Nack = a.awaiting
	}
	return r
}

// Reject is called when the entries of a frame could not be applied (an
// injected fault, a full disk): the master must resend from the first id
// not applied. Unlike a gap, a rejection always asks again, since the
// resend itself may be what was rejected.
func (a *Applier) Reject() uint64 {
	a.awaiting = a.last + 1
	return a.awaiting
}

// drain moves the pending entries that now follow last into apply.
func (a *Applier) drain(apply []frame.Entry) []frame.Entry {
	for {
		e, ok := a.pending[a.last+1]
		if !ok {
			return apply
		}
		delete(a.pending, a.last+1)
		a.last++
		apply = append(apply, e)
	}
}
