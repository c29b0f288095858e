// Package httpapi holds the HTTP pieces that every replog node serves the
// same way: JSON replies (every one through WriteRaw), errors as statuses
// and JSON bodies (AsError; the master adds its own sentinels in front of
// it), and the paged GET /messages listing.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error that knows the HTTP status it is answered with. Fields
// are added to the JSON body beside "error" (for example the id of a write
// that timed out).
type Error struct {
	Status int
	Msg    string
	Fields map[string]any
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, fmt.Errorf("encode reply: %w", err))
		return
	}
	WriteRaw(w, status, b)
}

// WriteRaw answers with body, which must already be JSON. Every JSON reply
// of both binaries is written here (a large GET /messages page starts
// here and is written piece by piece), and ends with exactly one newline:
// added unless body ends with it. Replies on the hot path end their
// bodies with it themselves, so they are written without a copy.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	startJSON(w, status)
	if n := len(body); n == 0 || body[n-1] != '\n' {
		body = append(body, '\n')
	}
	_, _ = w.Write(body) // the client may be gone; nothing to do about it
}

// startJSON sends the status and headers of a JSON reply.
func startJSON(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
}

// AsError is the reply err gets: an *Error (wrapped or not) its own
// status and fields. Anything else is a bug or an I/O failure: 500, with
// its message passed on as it is (it names what failed, which may be a
// file; the nodes' API serves operators and their tools).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Msg: "internal error: " + err.Error()}
}

// WriteError answers with {"error": "..."}, the fields and the status
// that AsError gives err.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	body := map[string]any{"error": e.Msg}
	for k, v := range e.Fields {
		body[k] = v
	}
	b, _ := json.Marshal(body) // a map of strings and numbers always marshals
	WriteRaw(w, e.Status, b)
}

// NotFound answers unknown routes in JSON like every other error.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, Errorf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path))
}

// MethodNotAllowed answers a known route called with the wrong method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	WriteError(w, Errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
}
