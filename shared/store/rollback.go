package store

import (
	"errors"
	"fmt"
)

// ErrRollbackBelowFirst is wrapped when a rollback would keep less than
// the log holds below what retention dropped: the log cannot be cut
// there, since the ids before FirstID are gone.
var ErrRollbackBelowFirst = errors.New("rollback below the first id held")

// Rollback says what RollBackAfter moved out of the log, for the caller's
// warning ("rolled back ids 17..20 to rollback/4-17-20.jsonl") and its
// metric.
type Rollback struct {
	Epoch    uint64 // the epoch of the leader that caused it
	From, To uint64 // the ids moved; none when To < From
	// File is where they went, relative to the data directory
	// ("rollback/4-17-20.jsonl"); empty for a Memory, and when nothing
	// was moved.
	File string
}

// Count is how many entries were moved.
func (r Rollback) Count() uint64 {
	if r.To < r.From {
		return 0
	}
	return r.To - r.From + 1
}

// checkKeep refuses a rollback to below first-1 in a log holding
// first..last.
func checkKeep(keep, first, last uint64) error {
	if keep+1 < first {
		return fmt.Errorf("%w: cannot keep up to id %d, the log holds %d..%d (retention dropped the rest); "+
			"the follower must restart at its leader's first id instead", ErrRollbackBelowFirst, keep, first, last)
	}
	return nil
}
