package election

import "time"

// Readmission decides when a learner — a node that lost its data
// directory, and with it its promises and its log — may vote again. See
// "Wiped nodes and learners" in docs/FAILOVER.md.
type Readmission struct {
	// Since is when the learner started; Hold is how long it stays a
	// learner at least: longer than any candidacy lasts (at most 1.5 ×
	// FAILOVER_TIMEOUT on its candidate's clock), so no candidacy still
	// counts a promise the learner forgot.
	Since time.Time
	Hold  time.Duration
}

// Ready reports whether the learner may vote again, given the leader's
// report: quorumID, the highest id a majority not counting the learner
// holds (Leadership.QuorumWithout), and start, the last id before the
// leader's epoch began. The learner must hold quorumID, and quorumID must
// be at or past the start (the leader's epoch began without the learner).
func (r Readmission) Ready(now time.Time, held, quorumID, start uint64) bool {
	return !now.Before(r.Since.Add(r.Hold)) && quorumID >= start && quorumID > 0 && held >= quorumID
}
