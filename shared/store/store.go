// Package store keeps replog's log: an append-only sequence of messages
// with ids 1, 2, 3, … and no gaps. The master appends to it as clients
// write; a secondary appends the gap-free prefix it has received.
package store

import (
	"time"

	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/replog/replog/shared/epoch"
	"github.com/replog/replog/shared/frame"
)

// ErrBadRange is returned by Read for a range that starts before id 1.
var ErrBadRange = errors.New("read range starts before id 1")

// MaxKeyBytes bounds a Record's Key: a durable log writes the key's
// length in one byte.
const MaxKeyBytes = 255

// ErrKeyTooLong is returned by Append for a record whose Key is longer
// than MaxKeyBytes; nothing of that append is stored.
var ErrKeyTooLong = fmt.Errorf("idempotency key longer than %d bytes", MaxKeyBytes)

// checkKeys refuses recs if any key is longer than MaxKeyBytes.
func checkKeys(recs []Record) error {
	for _, r := range recs {
		if len(r.Key) > MaxKeyBytes {
			return fmt.Errorf("%w: %d bytes", ErrKeyTooLong, len(r.Key))
		}
	}
	return nil
}

// Store is the seam between replog's logic and where the log lives.
// Implementations are safe for concurrent use.
type Store interface {
	// Append adds recs as the next entries, in order, and returns the id
	// of the last. When it returns, the entries are as durable as the
	// store promises (see FsyncPolicy) and visible to Read and LastID.
	// A key longer than MaxKeyBytes refuses the whole append
	// (ErrKeyTooLong), whether or not the store keeps keys.
	Append(recs ...Record) (last uint64, err error)
	// Read appends to dst the entries from id from on: at most max of
	// them, and no more once maxBytes of message text are collected
	// (but always at least one entry when from exists). An entry has its
	// epoch when above 1 (0 stands for epoch 1, as in a record and a
	// frame, so a log of a single master reads and sends as before) and,
	// in a durable store, the Key of a keyed record with At, when it was
	// accepted (unix ms): what an append frame carries. A Memory keeps no
	// keys (see Keys), so its entries have none.
	Read(dst []frame.Entry, from uint64, max, maxBytes int) ([]frame.Entry, error)
	// LastID is the id of the newest entry; FirstID-1 when the log is
	// empty (0 for a log that never held anything).
	LastID() uint64
	// FirstID is the id of the oldest entry held: 1 until DropBefore
	// drops entries. Ids never change and are never reused: the log holds
	// FirstID..LastID, and Read from below FirstID reads from FirstID.
	FirstID() uint64
	// HeldBytes is the message text the log holds, in bytes.
	HeldBytes() int64
	// DropBefore drops every entry below id (retention). With id beyond
	// LastID+1 the log is emptied and its next entry gets id: a
	// secondary that can no longer be sent what it misses restarts there.
	// Space comes back in whole units (chunks, segments).
	DropBefore(id uint64) error
	// FitBytes is the smallest id from FirstID on such that the messages
	// from it to LastID hold at most max bytes (LastID+1 when even the
	// newest alone is larger).
	FitBytes(max int64) uint64
	// AgedBefore is the first id after the oldest units (chunks,
	// segments) whose newest message was appended before cutoff; the
	// unit being appended to is never aged out. FirstID when none is.
	AgedBefore(cutoff time.Time) uint64
	// LogID names this log; it is made when the log is created, so two
	// logs that happen to hold the same ids are never mistaken for one.
	LogID() string
	// Reset drops every entry and renames the log, for a secondary that
	// must resync from a master whose log is not the one it holds.
	Reset(logID string) error
	// Changed returns a channel that is closed the next time the log
	// changes: entries become visible, or it is reset. To wait for entries
	// after id n, take the channel first, then check LastID, then wait.
	Changed() <-chan struct{}
	// Keys lists the idempotency keys of the newest keyed records a
	// durable store holds (those it found when it opened and those
	// appended since, at least the newest KeepKeys), oldest first; an
	// in-memory store has none. A promoted standby's API learns from it
	// the keys its follower stored.
	Keys() []KeyRecord

	// EpochOf is the epoch of the entry id (Record.Epoch, 1 for a record
	// without one), 0 when the log does not hold id.
	EpochOf(id uint64) uint64
	// History is the log's epoch history (docs/FAILOVER.md): the one last
	// saved, or, when none was, epoch 1 from id 1 for a log that holds or
	// held anything and none (epoch 0) for one that never did.
	History() epoch.History
	// SetHistory saves h as the log's history, durably, before it
	// returns. h must give every held entry its own epoch and claim no
	// start beyond LastID+1 (ErrHistoryMismatch): a follower appends up to
	// a new epoch's firstId−1, or its entries of the new epoch, before it
	// saves the start (epoch.Adopt).
	SetHistory(h epoch.History) error
	// Promise is the node's promise state as last saved; without one, a
	// log that holds anything was promised epoch 1 (to no one named).
	Promise() Promise
	// SetPromise saves p, durably, before it returns.
	SetPromise(p Promise) error
	// RollBackAfter moves every entry after keep out of the log, into a
	// rollback file named for cause (the epoch of the leader whose log
	// lacks them) and the ids, and trims the history to what the log then
	// backs (epoch.Adopt); the caller then saves its leader's history.
	// keep below FirstID−1 is refused (ErrRollbackBelowFirst). Appends
	// waiting meanwhile fail: their ids are gone.
	RollBackAfter(keep, cause uint64) (Rollback, error)
	// Close releases what the store holds.
	Close() error
}

// NewLogID returns a random log id.
func NewLogID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}
