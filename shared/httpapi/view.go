package httpapi

import (
	"net/http"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// view is the part of the log a read shows: all of it, or with
// committed=true only the ids up to the commit id the node knows — what
// a majority holds, which no failover can roll back.
type view struct {
	st     store.Store
	commit *store.Commit // set for a committed read
}

// viewOf is the view r asks for (committed=true|false, default false).
func (rd *Reads) viewOf(r *http.Request) (view, error) {
	switch s := r.URL.Query().Get("committed"); s {
	case "", "false":
		return view{st: rd.store}, nil
	case "true":
		if rd.commit == nil {
			return view{}, Errorf(http.StatusBadRequest,
				"committed=true: this node knows no commit id (a single master counts majorities only with CLUSTER_SIZE set)")
		}
		return view{st: rd.store, commit: rd.commit}, nil
	default:
		return view{}, Errorf(http.StatusBadRequest, "committed must be true or false, got %q", s)
	}
}

// last is the newest id the view shows.
func (v view) last() uint64 {
	last := v.st.LastID()
	if v.commit != nil {
		return min(last, v.commit.ID())
	}
	return last
}

// changed returns the signals of what may show more: the log's change,
// and for a committed view the commit id's (nil otherwise, which never
// fires). Take them before looking.
func (v view) changed() (log, commit <-chan struct{}) {
	if v.commit != nil {
		commit = v.commit.Changed()
	}
	return v.st.Changed(), commit
}

// read is store.Read of at most limit entries from from on that the view
// shows.
func (v view) read(from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	return v.readInto(nil, from, limit, maxBytes)
}

func (v view) readInto(dst []frame.Entry, from uint64, limit, maxBytes int) ([]frame.Entry, error) {
	if v.commit == nil {
		return v.st.Read(dst, from, limit, maxBytes)
	}
	upto := v.last()
	if from > upto {
		return dst[:0], nil
	}
	if n := upto - from + 1; n < uint64(limit) {
		limit = int(n)
	}
	entries, err := v.st.Read(dst, from, limit, maxBytes)
	for len(entries) > 0 && entries[len(entries)-1].ID > upto { // from was below the first id held
		entries = entries[:len(entries)-1]
	}
	return entries, err
}

// cutShort says whether entries, read for p, stopped at smallPageBytes
// with more of the page in the view.
func (v view) cutShort(p Page, entries []frame.Entry) bool {
	if len(entries) == 0 || len(entries) >= p.Limit {
		return false
	}
	return entries[len(entries)-1].ID < v.last()
}
