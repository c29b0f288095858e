// Package idempotency remembers the Idempotency-Key of recent appends, so
// that a client that retries (after a timeout, a dropped connection, a
// 504) never appends the same message twice.
package idempotency

import "time"

// Record is the fate of the first append that carried a key.
type Record struct {
	Key string
	// Digest identifies the message, so a key reused for another message
	// is caught rather than answered with the wrong id (store.Digest,
	// store.DigestBatch).
	Digest uint64
	// First and ID are the ids the append got (the same for one message;
	// the first and the last of a batch); set by the table's owner before
	// it closes Assigned, and read only after Assigned is closed.
	First, ID uint64
	// Err is set instead of ID when the append failed; the key is then
	// forgotten so that a retry can try again.
	Err error
	// Assigned is closed once ID or Err is set.
	Assigned chan struct{}

	created time.Time
}

// Table holds the records of the keys seen within a time window, and at
// most a bounded number of them (the oldest go first). It is pure: the
// time comes in as an argument. Not safe for concurrent use.
type Table struct {
	window time.Duration
	max    int
	byKey  map[string]*Record
	order  []*Record // oldest first, from head on
	head   int
}

// NewTable returns a table that remembers keys for window, at most max.
func NewTable(window time.Duration, max int) *Table {
	return &Table{window: window, max: max, byKey: map[string]*Record{}}
}

// Begin returns the record of key. If the key is new (or its record has
// expired) a fresh record is made and first is true: the caller appends
// and settles it. Otherwise the caller answers with the existing record.
func (t *Table) Begin(key string, digest uint64, now time.Time) (rec *Record, first bool) {
	t.evict(now)
	if rec := t.byKey[key]; rec != nil {
		return rec, false
	}
	rec = &Record{Key: key, Digest: digest, Assigned: make(chan struct{}), created: now}
	t.byKey[key] = rec
	t.order = append(t.order, rec)
	return rec, true
}

// Restore remembers a key found in a durable log at start, with the id
// of the record that carried it, if it is still within the window at now.
// A batch's key is carried by its first and its last record: restored in
// id order, they give the batch's range back.
func (t *Table) Restore(key string, digest, id uint64, at, now time.Time) {
	if now.Sub(at) >= t.window {
		return
	}
	rec, first := t.Begin(key, digest, at)
	switch {
	case first:
		rec.First, rec.ID = id, id
		close(rec.Assigned)
	case rec.Digest == digest && id > rec.ID:
		rec.ID = id
	}
}

// Forget drops rec's key, after its append failed.
func (t *Table) Forget(rec *Record) {
	if t.byKey[rec.Key] == rec {
		delete(t.byKey, rec.Key)
	}
}

// Len counts the keys remembered.
func (t *Table) Len() int { return len(t.byKey) }

func (t *Table) evict(now time.Time) {
	for t.head < len(t.order) {
		oldest := t.order[t.head]
		if t.byKey[oldest.Key] == oldest && now.Sub(oldest.created) < t.window && len(t.byKey) < t.max {
			break
		}
		if t.byKey[oldest.Key] == oldest {
			delete(t.byKey, oldest.Key)
		}
		t.order[t.head] = nil
		t.head++
	}
	if t.head > 1024 && t.head > len(t.order)/2 { // reclaim the consumed front
		t.order = append([]*Record(nil), t.order[t.head:]...)
		t.head = 0
	}
}
