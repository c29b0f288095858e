package api

import (
	"errors"
	"net/http"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// replyError is the master's one mapping from errors to HTTP statuses and
// JSON bodies: an *httpapi.Error carries its own; the sentinels of
// replication and of the store are given theirs here; anything else is
// httpapi.AsError's 500.
func replyError(err error) *httpapi.Error {
	var he *httpapi.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, replication.ErrRetained), errors.Is(err, replication.ErrConcernTimeout):
		return unmetReply(err)
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
	return httpapi.AsError(err)
}

// unmetReply is the 504 of a write stored whose write concern was not
// met: it timed out (the message keeps replicating) or retention dropped
// it first ("dropped": it never will be). The body says how far it got.
func unmetReply(err error) *httpapi.Error {
	fields := map[string]any{}
	if errors.Is(err, replication.ErrRetained) {
		fields["dropped"] = true
	}
	var u *unmetError
	if errors.As(err, &u) {
		if u.batch {
			fields["firstId"], fields["lastId"] = u.first, u.last
		} else {
			fields["id"] = u.last
		}
		fields["acks"] = u.acks
		if u.duplicate {
			fields["duplicate"] = true
		}
	}
	return &httpapi.Error{Status: http.StatusGatewayTimeout, Msg: err.Error(), Fields: fields}
}

// unmetError is an append whose write concern was not met, with the ids
// it was given and how many nodes held them, for its reply.
type unmetError struct {
	first, last uint64
	batch       bool
	acks        int
	duplicate   bool
	err         error // wraps replication.ErrConcernTimeout or ErrRetained
}

func (e *unmetError) Error() string { return e.err.Error() }
func (e *unmetError) Unwrap() error { return e.err }

// errNotStored wraps a failed append: nothing was stored.
var errNotStored = errors.New("not stored")

// errTooManyWaiting wraps the refusal of an append that would make more
// than MaxWaitingWrites writes wait for their write concern.
var errTooManyWaiting = errors.New("too many waiting writes")

// errReadOnly wraps the refusal of an append for want of a quorum.
var errReadOnly = errors.New("read-only")

// writeError answers with err's status and JSON body.
func writeError(w http.ResponseWriter, err error) { httpapi.WriteError(w, replyError(err)) }
