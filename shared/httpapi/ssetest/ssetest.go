// Package ssetest reads server-sent events for tests: a client of
// GET /messages/stream that checks each event as it comes.
package ssetest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Event is one server-sent event; Kind is empty for a message.
type Event struct{ ID, Kind, Data string }

// Stream is an open event stream. Its methods fail the test, so call them
// from the test's goroutine.
type Stream struct {
	t    testing.TB
	body io.ReadCloser
	r    *bufio.Reader
}

// Open GETs url, sending header's name, value pairs, and checks that it
// answers 200 with text/event-stream. The stream is closed when the test
// ends.
func Open(t testing.TB, url string, header ...string) *Stream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("open stream %s: %s %s %s", url, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	s := &Stream{t: t, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}
	t.Cleanup(func() { s.body.Close() })
	return s
}

// Close drops the connection, as a consumer that goes away does.
func (s *Stream) Close() { s.body.Close() }

// Next reads the next event, skipping comments; io.EOF once the server
// ended the stream.
func (s *Stream) Next() (Event, error) {
	var e Event
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && (e.ID != "" || e.Data != ""):
			return e, nil
		case line == "", strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			e.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.Kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.Data = line[6:]
		}
	}
}

// Expect reads the next event and fails unless it is message msg at id.
func (s *Stream) Expect(id uint64, msg string) {
	s.t.Helper()
	e, err := s.Next()
	want := fmt.Sprintf(`{"id":%d,"message":%q}`, id, msg)
	if err != nil || e.ID != fmt.Sprint(id) || e.Data != want || e.Kind != "" {
		s.t.Fatalf("event %+v (%v), want id %d data %s", e, err, id, want)
	}
}
