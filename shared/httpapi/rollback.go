package httpapi

import (
	"sort"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// seenEpochs is what a stream knows of the log as it was: the epoch of
// every id up to upto, in runs of one epoch (the log's history when the
// stream began, then each entry it sent), and the last id it sent. An
// id's epoch changes in the log only when a rollback moved it out and a
// later leader's entry took its place (a leader never reuses another
// epoch's ids), and a rollback with nothing in its place yet leaves the
// log short of it: either way the log no longer agrees with what the
// stream knew.
type seenEpochs struct {
	runs []epochRun // oldest first
	upto uint64     // the last id whose epoch runs give
	sent uint64     // the last id sent; 0 before any
}

// epochRun is a run of ids of one epoch, from first on.
type epochRun struct{ epoch, first uint64 }

// seeLog starts what a stream knows with st's history up to its last id.
func seeLog(st store.Store) seenEpochs {
	h, last := st.History(), st.LastID()
	var s seenEpochs
	for _, start := range h {
		if start.FirstID > last {
			break
		}
		s.runs = append(s.runs, epochRun{epoch: max(start.Epoch, 1), first: start.FirstID})
	}
	if len(s.runs) > 0 {
		s.upto = last
	}
	return s
}

// add records that e was sent.
func (s *seenEpochs) add(e frame.Entry) {
	s.sent = e.ID
	if e.ID <= s.upto {
		return // known from the history
	}
	ep := max(e.Epoch, 1) // 0 in an entry is epoch 1
	if n := len(s.runs); n == 0 || s.runs[n-1].epoch != ep {
		s.runs = append(s.runs, epochRun{epoch: ep, first: e.ID})
	}
	s.upto = e.ID
}

// agrees says whether st still holds id as the stream knew it. An id
// below the log's first id was dropped by retention, and one below the
// stream's knowledge is not known to differ: both agree.
func (s *seenEpochs) agrees(st store.Store, id uint64) bool {
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first > id })
	if i == 0 || id < st.FirstID() {
		return true
	}
	return st.EpochOf(id) == s.runs[i-1].epoch
}

// rolledBack reports whether st rolled back ids the stream sent, and if
// so the last id that stays: the highest id st still holds as the stream
// knew it. A rollback cuts a suffix, so the ids that agree are a prefix
// and a binary search finds its end; the common case, nothing rolled
// back, costs one look at the last id sent.
func (s *seenEpochs) rolledBack(st store.Store) (keep uint64, ok bool) {
	if s.sent == 0 || s.agrees(st, s.sent) {
		return 0, false
	}
	n := sort.Search(int(s.sent), func(i int) bool { return !s.agrees(st, uint64(i)+1) })
	return uint64(n), true
}
