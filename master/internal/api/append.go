package api

import (
	"errors"
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
		httpapi.WriteError(w, err)
		return
	}
	var rec *idempotency.Record
	entry := store.Record{Message: req.Message}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if err := checkKey(key); err != nil {
			httpapi.WriteError(w, err)
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
		httpapi.WriteError(w, err)
		return
	}
	id, err := s.store.Append(entry)
	if err != nil {
		err = storeError(err)
		s.settle(rec, 0, err)
		s.log.Error("append failed", zap.Error(err))
		httpapi.WriteError(w, err)
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
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnprocessableEntity,
			"Idempotency-Key %q was already used for another message", rec.Key))
		return
	}
	select {
	case <-rec.Assigned:
	case <-r.Context().Done():
		return
	}
	if rec.Err != nil {
		httpapi.WriteError(w, rec.Err)
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

// awaitConcern waits until req's write concern holds for id, the timeout
// passes (504: the message stays and keeps replicating), or the client
// leaves.
func (s *Server) awaitConcern(w http.ResponseWriter, r *http.Request, req AppendRequest, id uint64, duplicate bool) {
	timeout := s.opts.WriteTimeout
	if req.TimeoutSet {
		timeout = req.Timeout
	}
	if wait := s.hub.Wait(id, req.WriteConcern-1); wait != nil {
		var expired <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-wait.Done:
		case <-expired:
			s.hub.Cancel(wait)
			if acks := 1 + s.hub.Holders(id); acks < req.WriteConcern {
				fields := map[string]any{"id": id, "acks": acks}
				if duplicate {
					fields["duplicate"] = true
				}
				httpapi.WriteError(w, &httpapi.Error{Status: http.StatusGatewayTimeout, Fields: fields,
					Msg: fmt.Sprintf("write concern not met in %s: held by %d of %d nodes", timeout, acks, req.WriteConcern)})
				return
			}
		case <-r.Context().Done():
			// The client is gone; the message stays and keeps replicating.
			s.hub.Cancel(wait)
			return
		}
	}
	status, b := http.StatusCreated, append([]byte(`{"id":`), strconv.FormatUint(id, 10)...)
	b = append(append(b, `,"acks":`...), strconv.Itoa(1+s.hub.Holders(id))...)
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

// storeError says what a failed append means for the client: nothing was
// stored, and whether waiting helps.
func storeError(err error) error {
	if errors.Is(err, store.ErrDiskFull) {
		return httpapi.Errorf(http.StatusServiceUnavailable, "not stored: %v; retry once space is freed", err)
	}
	return httpapi.Errorf(http.StatusInternalServerError, "not stored: %v", err)
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
