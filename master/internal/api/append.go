package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/idempotency"
	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// maxKeyLen bounds an Idempotency-Key: keys are kept in memory, and the
// log stores at most store.MaxKeyBytes of one.
const maxKeyLen = store.MaxKeyBytes

// outcome is how an append ended, for its reply and its metrics.
type outcome struct {
	first, id uint64 // the ids given: first == id for one message, the batch's range otherwise
	batch     bool   // the reply names firstId and lastId
	acks      int
	err       error // nil: stored, with its write concern met
	duplicate bool  // answered for an earlier request with the same Idempotency-Key
	gone      bool  // the client left before the reply
}

// append is POST /messages: check, append, wait for the write concern,
// answer, count.
func (s *Server) append(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var lead *leading
	if s.opts.Failover != nil {
		t, begun := s.opts.Failover.Term()
		if t == nil {
			s.notLeading(w, r)
			return
		}
		lead = &leading{term: t, begun: begun}
	}
	req, o := s.serveAppend(w, r, lead)
	if o.gone {
		return // the message, if stored, stays and keeps replicating
	}
	if o.err != nil {
		err := o.err
		if errors.Is(err, replication.ErrConcernTimeout) || errors.Is(err, replication.ErrRetained) {
			err = &unmetError{first: o.first, last: o.id, batch: o.batch, acks: o.acks, duplicate: o.duplicate, err: err}
		}
		if errors.As(err, new(*replication.DeposedError)) {
			httpapi.WriteError(w, s.deposedReply(err))
		} else {
			writeError(w, err)
		}
	} else {
		status, b := http.StatusCreated, append([]byte(`{"id":`), strconv.FormatUint(o.id, 10)...)
		if o.batch {
			b = append(append(append([]byte(`{"firstId":`), strconv.FormatUint(o.first, 10)...), `,"lastId":`...),
				strconv.FormatUint(o.id, 10)...)
		}
		b = append(append(b, `,"acks":`...), strconv.Itoa(o.acks)...)
		if o.duplicate {
			status, b = http.StatusOK, append(b, `,"duplicate":true`...)
		}
		httpapi.WriteRaw(w, status, append(b, "}\n"...))
	}
	took := time.Since(start)
	s.metrics.observe(o.err, o.duplicate, req.WriteConcern, took.Seconds())
	if o.err == nil {
		s.recent.observe(took)
	}
}

func (s *Server) serveAppend(w http.ResponseWriter, r *http.Request, lead *leading) (AppendRequest, outcome) {
	req, err := s.parse(w, r)
	if err != nil {
		return AppendRequest{}, outcome{err: err}
	}
	var rec *idempotency.Record
	entries := records(req)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if err := checkKey(key); err != nil {
			return req, outcome{err: err}
		}
		// The key goes into the log with the message (a batch's first and
		// last), so that a restarted master with a durable log keeps
		// deduplicating retries.
		digest, now := digestOf(req), time.Now()
		for _, i := range []int{0, len(entries) - 1} {
			entries[i].Key, entries[i].Digest, entries[i].Time = key, digest, now
		}
		var first bool
		s.keysMu.Lock()
		if lead != nil && s.keysTerm != lead.term {
			s.keysTerm, s.keys = lead.term, s.restoreKeys(now) // this term's log, what its follower stored included
		}
		rec, first = s.keys.Begin(key, digest, now)
		s.keysMu.Unlock()
		if !first {
			return req, s.repeat(r, req, rec, lead)
		}
	}
	// The quorum check comes before the append: read-only mode must not
	// leave a message behind.
	if err := s.checkQuorum(); err != nil {
		s.settle(rec, 0, 0, err)
		return req, outcome{err: err}
	}
	// So is the bound on waiting writes: a refused append uses no id.
	if !s.reserveWait(req) {
		err := s.tooManyWaiting()
		s.settle(rec, 0, 0, err)
		return req, outcome{err: err}
	}
	defer s.releaseWait(req)
	var last uint64
	if lead != nil {
		last, err = lead.term.Append(s.store, entries) // none once the term ended
	} else {
		last, err = s.store.Append(entries...) // a batch: one store call, one group commit
	}
	if errors.Is(err, replication.ErrNotLeading) || errors.Is(err, replication.ErrHandingOff) {
		err = httpapi.Errorf(http.StatusServiceUnavailable, "%v: nothing was appended; retry (a leader is being chosen)", err)
		s.settle(rec, 0, 0, err)
		return req, outcome{err: err}
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", errNotStored, err)
		s.settle(rec, 0, 0, err)
		s.log.Error("append failed", zap.Error(err))
		return req, outcome{err: err}
	}
	first := last - uint64(len(entries)) + 1
	s.settle(rec, first, last, nil)
	// The sessions see the append through the store's change signal;
	// awaitConcern has them send it at once when the reply waits for it.
	return req, s.awaitConcern(r, req, first, last, false, lead)
}

// records are the log records of req: its message, or its batch.
func records(req AppendRequest) []store.Record {
	if req.Messages == nil {
		return []store.Record{{Message: req.Message}}
	}
	recs := make([]store.Record, len(req.Messages))
	for i, m := range req.Messages {
		recs[i].Message = m
	}
	return recs
}

// digestOf identifies req's message or batch for its Idempotency-Key.
func digestOf(req AppendRequest) uint64 {
	if req.Messages != nil {
		return store.DigestBatch(req.Messages)
	}
	return store.Digest(req.Message)
}

// repeat answers a request whose Idempotency-Key was seen before: nothing
// is appended; the reply is the first request's id, once the write concern
// of this request holds for it.
func (s *Server) repeat(r *http.Request, req AppendRequest, rec *idempotency.Record, lead *leading) outcome {
	if rec.Digest != digestOf(req) {
		return outcome{err: httpapi.Errorf(http.StatusUnprocessableEntity,
			"Idempotency-Key %q was already used for another message or batch", rec.Key)}
	}
	select {
	case <-rec.Assigned:
	case <-r.Context().Done():
		return outcome{gone: true}
	}
	if rec.Err != nil {
		return outcome{err: rec.Err}
	}
	if !s.reserveWait(req) {
		return outcome{err: s.tooManyWaiting()}
	}
	defer s.releaseWait(req)
	return s.awaitConcern(r, req, rec.First, rec.ID, true, lead)
}

// settle records the outcome of a keyed append for its repeats.
func (s *Server) settle(rec *idempotency.Record, first, last uint64, err error) {
	if rec == nil {
		return
	}
	if err != nil {
		rec.Err = err
		s.keysMu.Lock()
		s.keys.Forget(rec) // nothing was appended: a retry may try again
		s.keysMu.Unlock()
	} else {
		rec.First, rec.ID = first, last
	}
	close(rec.Assigned)
}

// awaitConcern waits until req's write concern holds for id, the timeout
// passes (a 504: the message stays and keeps replicating), or the client
// leaves.
// A batch's write concern holds once w nodes hold its last id.
func (s *Server) awaitConcern(r *http.Request, req AppendRequest, first, last uint64, duplicate bool, lead *leading) outcome {
	timeout := s.opts.WriteTimeout
	if req.TimeoutSet {
		timeout = req.Timeout
	}
	var acks int
	var err error
	if lead == nil {
		acks, err = s.hub.Await(r.Context(), last, req.WriteConcern, timeout)
	} else if err = awaitBegun(r.Context(), lead, last, timeout); err == nil {
		acks, err = s.hub.AwaitIn(r.Context(), lead.term, last, req.WriteConcern, timeout)
		if begun, _ := lead.begun.Begun(); err == nil && !begun {
			// A learner's old ack stopped counting meanwhile and the start
			// is no longer on a majority: wait for it again (rare).
			if err = awaitBegun(r.Context(), lead, last, timeout); err == nil {
				acks, err = s.hub.AwaitIn(r.Context(), lead.term, last, req.WriteConcern, timeout)
			}
		}
	}
	return outcome{first: first, id: last, batch: req.Messages != nil, acks: acks, err: err,
		duplicate: duplicate, gone: r.Context().Err() != nil}
}

// reserveWait takes one of the MaxWaitingWrites places for a request
// that may wait for its write concern; w=1 never waits and takes none.
func (s *Server) reserveWait(req AppendRequest) bool {
	if req.WriteConcern <= 1 {
		return true
	}
	if s.waiting.Add(1) > int64(s.opts.MaxWaitingWrites) {
		s.waiting.Add(-1)
		return false
	}
	return true
}

// releaseWait gives back what reserveWait took.
func (s *Server) releaseWait(req AppendRequest) {
	if req.WriteConcern > 1 {
		s.waiting.Add(-1)
	}
}

func (s *Server) tooManyWaiting() error {
	return fmt.Errorf("%w: %d writes are already waiting for their write concern (MAX_WAITING_WRITES); "+
		"nothing was appended: retry later, or with writeConcern 1", errTooManyWaiting, s.opts.MaxWaitingWrites)
}

// checkQuorum refuses appends while fewer than the quorum of nodes are
// healthy.
func (s *Server) checkQuorum() error {
	healthy := s.hub.HealthyNodes()
	if healthy >= s.opts.Quorum {
		return nil
	}
	return fmt.Errorf("%w: %d of %d nodes healthy, %d needed", errReadOnly, healthy, s.clusterNodes(), s.opts.Quorum)
}

// clusterNodes is CLUSTER_SIZE, or when not stated the nodes known so far.
func (s *Server) clusterNodes() int {
	if s.opts.ClusterSize > 0 {
		return s.opts.ClusterSize
	}
	return 1 + len(s.hub.Secondaries())
}

func checkKey(key string) error {
	if len(key) > maxKeyLen {
		return httpapi.Errorf(http.StatusBadRequest, "Idempotency-Key is %d bytes; at most %d", len(key), maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return httpapi.Errorf(http.StatusBadRequest, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}
