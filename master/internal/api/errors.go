package api

import (
	"errors"
	"net/http"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// replyError is the master's one mapping from errors to HTTP statuses: an
// *httpapi.Error carries its own; the sentinels of replication and of the
// store are given theirs here.
func replyError(err error) *httpapi.Error {
	var he *httpapi.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, replication.ErrRetained):
		// Stored, readable for a while, then dropped by retention before
		// the write concern was met: it will never be met.
		return &httpapi.Error{Status: http.StatusGatewayTimeout, Msg: err.Error(), Fields: map[string]any{"dropped": true}}
	case errors.Is(err, replication.ErrConcernTimeout):
		// The message is stored and keeps replicating; the body says how far.
		return &httpapi.Error{Status: http.StatusGatewayTimeout, Msg: err.Error()}
	case errors.Is(err, store.ErrDiskFull):
		return httpapi.Errorf(http.StatusServiceUnavailable, "not stored: %v; retry once space is freed", err)
	case errors.Is(err, errTooManyWaiting):
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: err.Error()}
	case errors.Is(err, errReadOnly):
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: err.Error(), Fields: map[string]any{"readOnly": true}}
	case errors.Is(err, replication.ErrUnknownSecondary):
		return &httpapi.Error{Status: http.StatusNotFound, Msg: err.Error()}
	case errors.Is(err, replication.ErrNoFaultControl):
		return &httpapi.Error{Status: http.StatusConflict, Msg: err.Error()}
	case errors.Is(err, replication.ErrNoConfirmation):
		return &httpapi.Error{Status: http.StatusGatewayTimeout, Msg: err.Error()}
	case errors.As(err, new(*replication.FaultsError)):
		return &httpapi.Error{Status: http.StatusBadRequest, Msg: err.Error()}
	case errors.Is(err, errNotStored):
		return &httpapi.Error{Status: http.StatusInternalServerError, Msg: err.Error()}
	}
	return &httpapi.Error{Status: http.StatusInternalServerError, Msg: "internal error: " + err.Error()}
}

// errNotStored wraps a failed append: nothing was stored.
var errNotStored = errors.New("not stored")

// errTooManyWaiting wraps the refusal of an append that would make more
// than MaxWaitingWrites writes wait for their write concern.
var errTooManyWaiting = errors.New("too many waiting writes")

// errReadOnly wraps the refusal of an append for want of a quorum.
var errReadOnly = errors.New("read-only")

// writeError answers with err's status and {"error": …}, plus fields.
func writeError(w http.ResponseWriter, err error, fields map[string]any) {
	e := replyError(err)
	if len(fields) > 0 {
		merged := map[string]any{}
		for k, v := range e.Fields {
			merged[k] = v
		}
		for k, v := range fields {
			merged[k] = v
		}
		e = &httpapi.Error{Status: e.Status, Msg: e.Msg, Fields: merged}
	}
	httpapi.WriteError(w, e)
}
