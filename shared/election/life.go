package election

import "maps"

// Life is one voting life of a node: zero for a node that never lost its
// data directory, and for a re-admitted learner the (epoch, round) of the
// leader's round that confirmed it. Later readmissions get larger lives:
// the majority that confirms one meets the majority that confirmed the
// one before, whose member took the older epoch's frames first.
type Life struct {
	Epoch uint64 `json:"epoch"`
	Round uint64 `json:"round"`
}

// Less orders lives by epoch, then round.
func (a Life) Less(b Life) bool {
	return a.Epoch < b.Epoch || (a.Epoch == b.Epoch && a.Round < b.Round)
}

// Lives is what a voter knows of the other nodes' lives, persisted with
// its promise. A node learns a learner's new life from the frames of the
// round that confirms it, before it echoes that round; its promises carry
// the table, so a candidate learns that a promise it counted came from a
// life that has since ended (Tally.Granted).
type Lives map[string]Life

// Learn records that node lives at least l; it reports whether the table
// changed (the caller persists it before it acks).
func (ls Lives) Learn(node string, l Life) bool {
	if !ls[node].Less(l) {
		return false
	}
	ls[node] = l
	return true
}

// Merge learns every life of other; it reports whether anything changed.
func (ls Lives) Merge(other Lives) bool {
	changed := false
	for n, l := range other {
		changed = ls.Learn(n, l) || changed
	}
	return changed
}

// Clone returns a copy, for a frame or an offer that outlives the table.
func (ls Lives) Clone() Lives { return maps.Clone(ls) }
