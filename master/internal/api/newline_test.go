package api

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// endsWithOneNewline fails unless body ends with exactly one newline, as
// every JSON reply of both binaries does (a shell prompt does not stick
// to it).
func endsWithOneNewline(t *testing.T, what string, body []byte) {
	t.Helper()
	if !bytes.HasSuffix(body, []byte("\n")) || bytes.HasSuffix(body, []byte("\n\n")) {
		t.Errorf("%s: the body %q does not end with exactly one newline", what, body)
	}
}

// TestJSONRepliesEndWithANewline: the master's JSON replies other than
// appends' (post checks those), errors among them, end with one newline.
func TestJSONRepliesEndWithANewline(t *testing.T) {
	m := newMaster(t, Options{FaultsAPI: true})
	m.postJSON(`{"message":"a"}`)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/health", 200},
		{http.MethodGet, "/messages", 200},
		{http.MethodGet, "/messages?from=0", 400},
		{http.MethodGet, "/dashboard/state", 200},
		{http.MethodGet, "/no/such/route", 404},
		{http.MethodDelete, "/messages", 405},
		{http.MethodPut, "/secondaries/nobody/faults", 415}, // no Content-Type
	} {
		req, err := http.NewRequest(c.method, m.url+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d %q, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
		endsWithOneNewline(t, c.method+" "+c.path, body)
	}
}
