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

// maxKeyLen bounds an Idempotency-Key; keys are kept in memory.
const maxKeyLen = 255

// outcome is how an append ended, for its reply and its metrics.
type outcome struct {
	id        uint64
	acks      int
	err       error // nil: stored, with its write concern met
	duplicate bool  // answered for an earlier request with the same Idempotency-Key
	gone      bool  // the client left before the reply
}

// append is POST /messages: check, append, wait for the write concern,
// answer, count.
func (s *Server) append(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, o := s.serveAppend(w, r)
	if o.gone {
		return // the message, if stored, stays and keeps replicating
	}
	if o.err != nil {
		var fields map[string]any
		if errors.Is(o.err, replication.ErrConcernTimeout) {
			fields = map[string]any{"id": o.id, "acks": o.acks}
			if o.duplicate {
				fields["duplicate"] = true
			}
		}
		writeError(w, o.err, fields)
	} else {
		status, b := http.StatusCreated, append([]byte(`{"id":`), strconv.FormatUint(o.id, 10)...)
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

func (s *Server) serveAppend(w http.ResponseWriter, r *http.Request) (AppendRequest, outcome) {
	req, err := s.parse(w, r)
	if err != nil {
		return AppendRequest{}, outcome{err: err}
	}
	var rec *idempotency.Record
	entry := store.Record{Message: req.Message}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if err := checkKey(key); err != nil {
			return req, outcome{err: err}
		}
		// The key goes into the log with the message, so that a restarted
		// master with a durable log keeps deduplicating retries.
		entry.Key, entry.Digest, entry.Time = key, idempotency.Digest(req.Message), time.Now()
		var first bool
		s.keysMu.Lock()
		rec, first = s.keys.Begin(key, entry.Digest, entry.Time)
		s.keysMu.Unlock()
		if !first {
			return req, s.repeat(r, req, rec)
		}
	}
	// The quorum check comes before the append: read-only mode must not
	// leave a message behind.
	if err := s.checkQuorum(); err != nil {
		s.settle(rec, 0, err)
		return req, outcome{err: err}
	}
	id, err := s.store.Append(entry)
	if err != nil {
		err = fmt.Errorf("%w: %w", errNotStored, err)
		s.settle(rec, 0, err)
		s.log.Error("append failed", zap.Error(err))
		return req, outcome{err: err}
	}
	s.settle(rec, id, nil)
	s.hub.Notify()
	return req, s.awaitConcern(r, req, id, false)
}

// repeat answers a request whose Idempotency-Key was seen before: nothing
// is appended; the reply is the first request's id, once the write concern
// of this request holds for it.
func (s *Server) repeat(r *http.Request, req AppendRequest, rec *idempotency.Record) outcome {
	if rec.Digest != idempotency.Digest(req.Message) {
		return outcome{err: httpapi.Errorf(http.StatusUnprocessableEntity,
			"Idempotency-Key %q was already used for another message", rec.Key)}
	}
	select {
	case <-rec.Assigned:
	case <-r.Context().Done():
		return outcome{gone: true}
	}
	if rec.Err != nil {
		return outcome{err: rec.Err}
	}
	return s.awaitConcern(r, req, rec.ID, true)
}

// settle records the outcome of a keyed append for its repeats.
func (s *Server) settle(rec *idempotency.Record, id uint64, err error) {
	if rec == nil {
		return
	}
	if err != nil {
		rec.Err = err
		s.keysMu.Lock()
		s.keys.Forget(rec) // nothing was appended: a retry may try again
		s.keysMu.Unlock()
	} else {
		rec.ID = id
	}
	close(rec.Assigned)
}

// awaitConcern waits until req's write concern holds for id, the timeout
// passes (a 504: the message stays and keeps replicating), or the client
// leaves.
func (s *Server) awaitConcern(r *http.Request, req AppendRequest, id uint64, duplicate bool) outcome {
	timeout := s.opts.WriteTimeout
	if req.TimeoutSet {
		timeout = req.Timeout
	}
	acks, err := s.hub.Await(r.Context(), id, req.WriteConcern, timeout)
	return outcome{id: id, acks: acks, err: err, duplicate: duplicate, gone: r.Context().Err() != nil}
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
