package election

import "time"

// Readmission decides when a learner — a node that lost its data
// directory, and with it its promises and its log — may vote again. See
// "Wiped nodes and learners" in docs/FAILOVER.md.
type Readmission struct {
	// Since is when the learner started; Hold is how long it stays a
	// learner at least: longer than any candidacy lasts (at most 1.5 ×
	// FAILOVER_TIMEOUT on its candidate's clock), so that every candidacy
	// that may count a promise the learner forgot has ended — won or
	// lost — before the learner says it is ready.
	Since time.Time
	Hold  time.Duration
}

// HoldOver reports whether the learner may tell its leader it is ready
// (the leader then starts the round that can confirm it).
func (r Readmission) HoldOver(now time.Time) bool { return !now.Before(r.Since.Add(r.Hold)) }

// Ready reports whether the learner may vote again, given the leader's
// report: readmitID, what it must hold (Leadership.ReadmitID: every write
// acknowledged with its forgotten acks, and the leader's epoch start),
// start, the last id before the leader's epoch began, and confirmed
// (Leadership.Confirmed: a majority not counting the learner took the
// leader's frames after the learner said it was ready).
func (r Readmission) Ready(now time.Time, held, readmitID, start uint64, confirmed bool) bool {
	return r.HoldOver(now) && confirmed && readmitID >= start && readmitID > 0 && held >= readmitID
}
