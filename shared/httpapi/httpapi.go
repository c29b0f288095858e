// Package httpapi holds the HTTP pieces that every replog node serves the
// same way: JSON replies, the one mapping from errors to statuses, and the
// paged GET /messages listing.
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

// WriteRaw answers with body, which must already be JSON.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone; nothing to do about it
}

// WriteError answers with {"error": "..."} and the status err carries. An
// error that carries none is a bug or an I/O failure: 500, without
// leaking internals beyond its message.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Msg: "internal error: " + err.Error()}
	}
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
