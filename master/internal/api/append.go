package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/idempotency"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// maxKeyLen bounds an Idempotency-Key; keys are kept in memory.
const maxKeyLen = 255

// append is POST /messages: check, append, wait for the write concern.
func (s *Server) append(w http.ResponseWriter, r *http.Request) {
	req, err := s.parse(w, r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	var rec *idempotency.Record
	entry := store.Record{Message: req.Message}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if err := checkKey(key); err != nil {
			writeError(w, err, nil)
			return
		}
		// The key goes into the log with the message, so that a restarted
		// master with a durable log keeps deduplicating retries.
		entry.Key, entry.Digest, entry.Time = key, idempotency.Digest(req.Message), time.Now()
		var first bool
		s.keysMu.Lock()
		rec, first = s.keys.Begin(key, entry.Digest, entry.Time)
		s.keysMu.Unlock()
		if !first {
			s.repeat(w, r, req, rec)
			return
		}
	}
	// The quorum check comes before the append: read-only mode must not
	// leave a message behind.
	if err := s.checkQuorum(); err != nil {
		s.settle(rec, 0, err)
		writeError(w, err, nil)
		return
	}
	id, err := s.store.Append(entry)
	if err != nil {
		err = fmt.Errorf("%w: %w", errNotStored, err)
		s.settle(rec, 0, err)
		s.log.Error("append failed", zap.Error(err))
		writeError(w, err, nil)
		return
	}
	s.settle(rec, id, nil)
	s.hub.Notify()
	s.awaitConcern(w, r, req, id, false)
}

// repeat answers a request whose Idempotency-Key was seen before: nothing
// is appended; the reply is the first request's id, once the write concern
// of this request holds for it.
func (s *Server) repeat(w http.ResponseWriter, r *http.Request, req AppendRequest, rec *idempotency.Record) {
	if rec.Digest != idempotency.Digest(req.Message) {
		writeError(w, httpapi.Errorf(http.StatusUnprocessableEntity,
			"Idempotency-Key %q was already used for another message", rec.Key), nil)
		return
	}
	select {
	case <-rec.Assigned:
	case <-r.Context().Done():
		return
	}
	if rec.Err != nil {
		writeError(w, rec.Err, nil)
		return
	}
	s.awaitConcern(w, r, req, rec.ID, true)
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

// awaitConcern waits until req's write concern holds for id and answers
// 201 (200 for a repeat); or 504 once the timeout passes (the message stays
// and keeps replicating); or nothing, when the client left.
func (s *Server) awaitConcern(w http.ResponseWriter, r *http.Request, req AppendRequest, id uint64, duplicate bool) {
	timeout := s.opts.WriteTimeout
	if req.TimeoutSet {
		timeout = req.Timeout
	}
	acks, err := s.hub.Await(r.Context(), id, req.WriteConcern, timeout)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone; the message stays and keeps replicating
		}
		fields := map[string]any{"id": id, "acks": acks}
		if duplicate {
			fields["duplicate"] = true
		}
		writeError(w, err, fields)
		return
	}
	status, b := http.StatusCreated, append([]byte(`{"id":`), strconv.FormatUint(id, 10)...)
	b = append(append(b, `,"acks":`...), strconv.Itoa(acks)...)
	if duplicate {
		status, b = http.StatusOK, append(b, `,"duplicate":true`...)
	}
	httpapi.WriteRaw(w, status, append(b, "}\n"...))
}

// checkQuorum refuses appends while fewer than the quorum of nodes are
// healthy.
func (s *Server) checkQuorum() error {
	healthy := s.hub.HealthyNodes()
	if healthy >= s.opts.Quorum {
		return nil
	}
	return &httpapi.Error{
		Status: http.StatusServiceUnavailable,
		Msg:    fmt.Sprintf("read-only: %d of %d nodes healthy, %d needed", healthy, s.clusterNodes(), s.opts.Quorum),
		Fields: map[string]any{"readOnly": true},
	}
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
