package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/epoch"
)

// ErrHistoryMismatch is wrapped when an epoch history does not describe
// the log: it gives a held entry another epoch than the entry's own, or
// claims a start beyond LastID+1, which the log does not back.
var ErrHistoryMismatch = errors.New("epoch history does not match the log")

// Promise is what a node persists of its promise state (promise.json):
// the promise election.Voter holds, and whether the node is a learner.
// A node starts its voter as election.NewVoter(p.Promise, p.Learner) and
// saves Promise{v.Promised(), v.Learner()} whenever an answer changes it,
// before the answer leaves.
type Promise struct {
	election.Promise
	Learner bool `json:"learner,omitempty"`
	// Node is the NODE_NAME of the node these promises belong to: a
	// leader counts votes and acks by name, so a data directory must
	// never speak under two names (ballot.Load).
	Node string `json:"node,omitempty"`
}

// The files, beside meta.json in the log directory (epochs.json: the
// history belongs to the log and moves aside with it on Reset) or in the
// data directory (promise.json: a promise belongs to the node, and
// forgetting it when the log is replaced could promise an epoch twice).
const (
	historyFile = "epochs.json"
	promiseFile = "promise.json"
)

// defaultHistory is the history of a log without epochs.json: epoch 1
// from id 1 once it holds (or held) anything — it was written by the one
// master of a release before failover, or by a master without PEERS,
// which stays in epoch 1 and writes no epochs.json — and no history
// (epoch 0) while it never held anything.
func defaultHistory(held bool) epoch.History {
	if !held {
		return nil
	}
	return epoch.History{{Epoch: 1, FirstID: 1}}
}

// defaultPromise is the promise of a node without promise.json: epoch 1,
// to no one in particular, for a log that holds anything (its one master
// led epoch 1); none for an empty one.
func defaultPromise(held bool) Promise {
	if !held {
		return Promise{}
	}
	return Promise{Promise: election.Promise{Epoch: 1}}
}

// runs are the epochs of a log's records, as starts: a start per change
// of epoch from one record to the next. Unlike a history it holds no
// empty epoch; the two agree on every id held.
type runs []epoch.Start

// add notes that id, the next id, has epoch e (0 meaning 1).
func (r *runs) add(id, e uint64) {
	e = max(e, 1)
	if n := len(*r); n == 0 || (*r)[n-1].Epoch != e {
		*r = append(*r, epoch.Start{Epoch: e, FirstID: id})
	}
}

// of is the epoch of id, which the caller knows is held.
func (r runs) of(id uint64) uint64 { return epoch.History(r).Of(id) }

// runCursor gives the epochs of increasing ids from runs, a binary
// search per run rather than per id: a Read's cost per entry in a log of
// one epoch is a comparison.
type runCursor struct {
	r     runs
	epoch uint64 // of ids from the current run's start ...
	next  uint64 // ... up to next (the next run's start), excluded
}

// from is a cursor at id.
func (r runs) from(id uint64) runCursor {
	c := runCursor{r: r}
	c.seek(id)
	return c
}

func (c *runCursor) seek(id uint64) {
	i := sort.Search(len(c.r), func(i int) bool { return c.r[i].FirstID > id })
	c.epoch, c.next = 1, math.MaxUint64
	if i > 0 {
		c.epoch = c.r[i-1].Epoch
	}
	if i < len(c.r) {
		c.next = c.r[i].FirstID
	}
}

// of is the epoch of id, no lower than the last id asked for.
func (c *runCursor) of(id uint64) uint64 {
	if id >= c.next {
		c.seek(id)
	}
	return c.epoch
}

// cut forgets the records after keep.
func (r runs) cut(keep uint64) runs {
	i := sort.Search(len(r), func(i int) bool { return r[i].FirstID > keep })
	return r[:i:i]
}

// checkHistory reports whether h is a well-formed history that gives
// every id of first..last the epoch its record has, and claims no start
// beyond last+1.
func checkHistory(h epoch.History, r runs, first, last uint64) error {
	var ok epoch.History
	for _, s := range h {
		var err error
		if ok, err = ok.Append(s); err != nil {
			return fmt.Errorf("%w: %w", ErrHistoryMismatch, err)
		}
	}
	if n := len(h); n > 0 && h[n-1].FirstID > last+1 {
		return fmt.Errorf("%w: epoch %d starts at id %d, beyond the last id %d", ErrHistoryMismatch, h[n-1].Epoch, h[n-1].FirstID, last)
	}
	for i, s := range r {
		to := last
		if i+1 < len(r) {
			to = min(to, r[i+1].FirstID-1)
		}
		from := max(s.FirstID, first)
		if from > to {
			continue
		}
		// Both are steps: agreeing at both ends of a run, with h never
		// decreasing, h holds the run's epoch all through it.
		if h.Of(from) != s.Epoch || h.Of(to) != s.Epoch {
			return fmt.Errorf("%w: ids %d..%d are of epoch %d, the history %v says %d", ErrHistoryMismatch, from, to, s.Epoch, h, h.Of(from))
		}
	}
	return nil
}

// repairHistory is what opening a log makes of its saved history h:
//   - starts beyond the log are dropped (epoch.Adopt): a crash after a
//     rollback cut the log and before the history was saved;
//   - records at the end of the log of an epoch above h's last add their
//     epoch's start: a crash after a follower appended its leader's
//     entries of a new epoch and before it saved the start. The start is
//     exactly where the first such record is (the one before is of an
//     older epoch), and the log backs it; an empty epoch in between is
//     not known, and leaving it out only claims less. (A log whose
//     first record is of the new epoch knows its start only at id 1.)
//
// Anything else that disagrees is an error: the log is not what its
// history says.
func repairHistory(h epoch.History, r runs, first, last uint64) (epoch.History, error) {
	h = epoch.Adopt(h, last)
	for _, s := range r {
		if s.Epoch > h.Last() && (s.FirstID > first || s.FirstID == 1) {
			var err error
			if h, err = h.Append(s); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrHistoryMismatch, err)
			}
		}
	}
	if err := checkHistory(h, r, first, last); err != nil {
		return nil, err
	}
	return h, nil
}

// readJSON reads dir/name into v; found is false when it does not exist.
func readJSON(dir, name string, v any) (found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return false, fmt.Errorf("read %s/%s: %w", dir, name, err)
	}
	return true, nil
}

// writeJSON replaces dir/name with v atomically and durably: temp file,
// fsync, rename, fsync the directory.
func writeJSON(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return writeFileAtomic(dir, name, b)
}

// writeFileAtomic replaces dir/name with b: temp file, fsync, rename,
// fsync the directory. A crash leaves the old file or the new one.
func writeFileAtomic(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}
