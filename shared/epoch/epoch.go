// Package epoch keeps a log's epoch history and finds where two logs part.
//
// Every leader of a replog cluster leads one epoch, and only appends; so
// the epoch of an id, read from a history, names the one leader whose
// entry sits there, and two logs that give an id the same epoch hold the
// same entries up to it (log matching). Comparing histories is therefore
// enough to find the common prefix of two logs without reading a record,
// which is what Kafka's KIP-101/KIP-279 leader-epoch cache does.
//
// Everything here is pure: values in, values out, no I/O.
package epoch

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Start says that Epoch began at FirstID: its leader gave FirstID to the
// first message it accepted, and held every id before it from the
// epochs before. An epoch may hold no message at all (the next one starts
// at the same FirstID); its start still counts.
type Start struct {
	Epoch   uint64 `json:"epoch"`
	FirstID uint64 `json:"firstId"`
}

// History is a log's epoch history: starts by increasing epoch, their
// first ids never decreasing. The zero History is the history of an empty
// log that never followed anyone (epoch 0).
type History []Start

// Open is the last id to pass as the leader's for a leader that still
// leads: its log goes on in its last epoch, so a follower's entries of
// that epoch beyond what one frame showed are not a divergence.
const Open = math.MaxUint64

// ErrOrder is wrapped when a start would not come after the last one.
var ErrOrder = errors.New("epoch start out of order")

// Append returns h with s added. The epoch must be above h's last and the
// first id not before the last start's: a history that went back would
// let two leaders claim one id.
func (h History) Append(s Start) (History, error) {
	if s.FirstID == 0 {
		return h, fmt.Errorf("%w: epoch %d starts at id 0", ErrOrder, s.Epoch)
	}
	if n := len(h); n > 0 && (s.Epoch <= h[n-1].Epoch || s.FirstID < h[n-1].FirstID) {
		return h, fmt.Errorf("%w: (%d, %d) after (%d, %d)", ErrOrder, s.Epoch, s.FirstID, h[n-1].Epoch, h[n-1].FirstID)
	}
	return append(h[:len(h):len(h)], s), nil
}

// Last is the last epoch of h, 0 for an empty history. It counts an
// epoch that holds no message: a node that persisted a new leader's start
// is more up to date than one that holds more ids of an older epoch,
// which is what makes an epoch start on a majority protect the entries
// under it (Raft's Figure 8).
func (h History) Last() uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Epoch
}

// Of returns the epoch of id: that of the last start at or before id, 0
// before the first start.
func (h History) Of(id uint64) uint64 {
	i := sort.Search(len(h), func(i int) bool { return h[i].FirstID > id })
	if i == 0 {
		return 0
	}
	return h[i-1].Epoch
}

// End answers KIP-279's question, "where does epoch e end in your log",
// for a log holding up to last: the largest epoch of h not above e, and
// the last id it covers. A follower whose last epoch is e keeps at most
// that id. (0, 0) when h has no epoch at or below e.
func (h History) End(e, last uint64) (epoch, end uint64) {
	i := sort.Search(len(h), func(i int) bool { return h[i].Epoch > e })
	if i == 0 {
		return 0, 0
	}
	if i == len(h) {
		return h[i-1].Epoch, last
	}
	return h[i-1].Epoch, min(h[i].FirstID-1, last)
}

// Adopt returns the part of leader's history that a follower whose log
// agrees with the leader's up to last may persist: the starts at or
// before last+1. A start at last+1 is admitted (the follower holds
// everything before it, which is all that start claims); a later one is
// not, so a node behind its leader never claims an epoch its log does
// not back — that would make a short log look more up to date than a
// longer one holding acknowledged writes.
func Adopt(leader History, last uint64) History {
	i := sort.Search(len(leader), func(i int) bool { return leader[i].FirstID > last+1 })
	return append(History(nil), leader[:i]...)
}

// Position is how up to date a log is: the last epoch of its history and
// its last id. Positions compare in that order.
type Position struct {
	Epoch uint64 `json:"lastEpoch"`
	ID    uint64 `json:"lastId"`
}

// PositionOf returns the position of a log with history h holding up to
// last.
func PositionOf(h History, last uint64) Position { return Position{Epoch: h.Last(), ID: last} }

// Compare returns -1, 0 or +1 as p is less, as, or more up to date than q.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.Epoch, q.Epoch); c != 0 {
		return c
	}
	return cmp.Compare(p.ID, q.ID)
}

func (p Position) String() string { return fmt.Sprintf("(%d, %d)", p.Epoch, p.ID) }

// Diverge returns the last id at which a follower's log (history
// follower, holding up to followerLast) still agrees with the leader's
// (history leader, holding up to leaderLast, or Open while it leads):
// the follower keeps every id up to it and rolls back the rest. Two logs
// agree up to id when both hold it and their histories give every id up
// to it the same epoch; by log matching they then hold the same entries.
// The answer is found from the histories alone, in one step, where
// KIP-279's End may have to be asked again when the leader never had the
// follower's last epoch.
func Diverge(leader History, leaderLast uint64, follower History, followerLast uint64) uint64 {
	limit := min(leaderLast, followerLast)
	// Both epoch-of-id functions are steps that change only at a start
	// (both are 0 before their first), so the first id where they differ
	// is one of the starts.
	first := limit + 1
	check := func(id uint64) {
		if id <= limit && id < first && leader.Of(id) != follower.Of(id) {
			first = id
		}
	}
	for _, s := range leader {
		check(s.FirstID)
	}
	for _, s := range follower {
		check(s.FirstID)
	}
	return first - 1
}

// ErrAheadInEpochOne: a follower holds ids beyond its leader's last while
// both logs are still in epoch 1, the one master's epoch of an upgraded
// cluster. Histories cannot tell such logs apart (every id is epoch 1),
// so today's refusal stays.
var ErrAheadInEpochOne = errors.New("follower is ahead of its leader in epoch 1")

// CheckEpochOne refuses a follower whose log goes beyond its leader's
// while both are in epoch 1 (or the follower's log is): a master that
// lost its tail in a power loss without FSYNC=always may have given those
// ids again to other messages, and Diverge, seeing one epoch on both
// sides, would keep the follower's tail as the leader's. Once the leader
// is past epoch 1 the histories settle it and the check passes.
func CheckEpochOne(leader History, leaderLast uint64, follower History, followerLast uint64) error {
	if leader.Last() <= 1 && follower.Last() <= 1 && followerLast > leaderLast {
		return fmt.Errorf("%w: it holds id %d but the leader's last id is %d", ErrAheadInEpochOne, followerLast, leaderLast)
	}
	return nil
}
