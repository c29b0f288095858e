package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/replog/replog/master/internal/failover"
	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/httpapi"
)

// Failover is the API's view of a master-capable node of a cluster with
// PEERS (failover.Node); nil for a single master.
type Failover interface {
	// Term is the term this node leads and whether its epoch start is
	// on a majority yet; nil when it does not lead.
	Term() (*replication.Term, failover.Begun)
	// Leader is the leader as this node knows it.
	Leader() (failover.Peer, bool)
	Promote(ctx context.Context) (failover.PromoteResult, error)
	Status() failover.Status
}

// leading is the term an append is taken in; nil for a single master.
type leading struct {
	term  *replication.Term
	begun failover.Begun
}

// retryAfter is what a client is told to wait when no leader is known:
// about the time a failover takes to begin.
const retryAfter = time.Second

// notLeading answers a write sent to a node that does not lead: a 307 to
// the leader's URL (same path and query; curl -L and Postman resend the
// body), or, with no leader known, a 503 saying when to retry. Nothing
// was appended.
func (s *Server) notLeading(w http.ResponseWriter, r *http.Request) {
	leader, ok := s.opts.Failover.Leader()
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
		httpapi.WriteError(w, &httpapi.Error{Status: http.StatusServiceUnavailable,
			Msg:    "no leader: an election is under way or no majority is reachable; nothing was appended, retry later",
			Fields: map[string]any{"retryAfterMs": retryAfter.Milliseconds(), "leader": nil}})
		return
	}
	w.Header().Set("Location", leader.URL+r.URL.RequestURI())
	httpapi.WriteError(w, &httpapi.Error{Status: http.StatusTemporaryRedirect,
		Msg:    fmt.Sprintf("this node is a standby; write to the leader %s at %s", leader.Name, leader.URL),
		Fields: map[string]any{"leader": peerJSON(leader)}})
}

func peerJSON(p failover.Peer) map[string]string {
	return map[string]string{"name": p.Name, "url": p.URL}
}

// deposedReply is the 503 of a write appended by a leader that stopped
// leading before its write concern was met: the outcome is unknown, as
// with a 504; the client retries with the same Idempotency-Key.
func (s *Server) deposedReply(err error) *httpapi.Error {
	var d *replication.DeposedError
	errors.As(err, &d)
	fields := map[string]any{"id": d.ID, "acks": d.Acks, "leader": nil}
	if s.opts.Failover != nil {
		if l, ok := s.opts.Failover.Leader(); ok {
			fields["leader"] = peerJSON(l)
		}
	}
	return &httpapi.Error{Status: http.StatusServiceUnavailable,
		Msg: err.Error() + "; retry with the same Idempotency-Key", Fields: fields}
}

// awaitBegun waits until the term's epoch start is on a majority (before
// that nothing may be acknowledged: docs/FAILOVER.md, invariant 4), the
// term ends, the timeout passes or the client leaves.
func awaitBegun(ctx context.Context, l *leading, id uint64, timeout time.Duration) error {
	begun, changed := l.begun.Begun()
	if begun {
		return nil
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for !begun {
		select {
		case <-changed:
			begun, changed = l.begun.Begun()
		case <-l.term.Ended():
			return &replication.DeposedError{ID: id, Acks: 1}
		case <-expired:
			return &replication.ConcernError{Need: 1, Timeout: timeout, Acks: 1}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// promote is POST /promote.
func (s *Server) promote(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Authorized(r) {
		writeError(w, httpapi.Errorf(http.StatusUnauthorized, "POST /promote needs the REPLICATION_TOKEN as \"Authorization: Bearer <token>\""))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), failover.PromoteWait)
	defer cancel()
	res, err := s.opts.Failover.Promote(ctx)
	if err != nil {
		writeError(w, httpapi.Errorf(http.StatusServiceUnavailable, "%v; nothing changed", err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"leader": peerJSON(res.Leader), "epoch": res.Epoch,
		"lastId": res.LastID, "changed": res.Changed})
}
