package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/httpapi/openapitest"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// master is the master's API in process: its routes over an in-memory
// log and a real hub, on a loopback test server.
type master struct {
	t      *testing.T
	store  *store.Memory
	url    string
	server *Server
	client *http.Client // checks every request and reply against docs/openapi.yaml
}

func (m *master) srvMetrics() *appendMetrics { return m.server.metrics }

func newMaster(t *testing.T, opts Options) *master {
	st := store.NewMemory("L")
	log := zaptest.NewLogger(t)
	hub := replication.NewHub(st, replication.Options{}, log)
	if opts.Quorum == 0 {
		opts.Quorum = 1
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 64
	}
	opts.IdempotencyWindow, opts.IdempotencyMaxKeys = time.Minute, 100
	server := New(st, hub, opts, log)
	srv := httptest.NewServer(server.Routes())
	t.Cleanup(func() {
		hub.Close() // first: it ends the replication handlers the server waits for
		srv.Close()
	})
	return &master{t: t, store: st, url: srv.URL, server: server,
		client: &http.Client{Transport: openapitest.Transport(t, nil)}}
}

// secondary connects a hand-driven secondary named name.
func (m *master) secondary(name string) *frametest.Peer {
	p := frametest.Dial(m.t, "ws"+strings.TrimPrefix(m.url, "http")+"/replicate",
		frame.Hello(name, frame.RoleSecondary, "", 0))
	p.Expect(frame.TypeWelcome)
	return p
}

type answer struct {
	status int
	body   map[string]any
}

// post appends body; header adds name, value pairs. Safe off the test's
// goroutine: it reports failures with Errorf.
func (m *master) post(contentType, body string, header ...string) answer {
	req, err := http.NewRequest(http.MethodPost, m.url+"/messages", strings.NewReader(body))
	if err != nil {
		m.t.Errorf("request: %v", err)
		return answer{}
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := m.client.Do(req)
	if err != nil {
		m.t.Errorf("POST %s: %v", body, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	if err := json.Unmarshal(b, &a.body); err != nil {
		m.t.Errorf("POST %s: the reply %q is not JSON: %v", body, b, err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) || bytes.HasSuffix(b, []byte("\n\n")) {
		m.t.Errorf("POST %.80s: the reply %q does not end with exactly one newline", body, b)
	}
	return a
}

func (m *master) postJSON(body string, header ...string) answer {
	return m.post("application/json", body, header...)
}

// check fails unless a has status and every field of want.
func check(t *testing.T, what string, a answer, status int, want map[string]any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d %v, want %d", what, a.status, a.body, status)
	}
	for k, v := range want {
		if a.body[k] != v {
			t.Fatalf("%s: %s = %v (body %v), want %v", what, k, a.body[k], a.body, v)
		}
	}
}

func TestAppendStatuses(t *testing.T) {
	cases := []struct {
		name        string
		opts        Options
		contentType string
		body        string
		status      int
		want        map[string]any
	}{
		{"created", Options{}, "application/json", `{"message":"a"}`, 201, map[string]any{"id": 1.0, "acks": 1.0}},
		{"created, content type with a charset", Options{}, "application/json; charset=utf-8", `{"message":"a"}`, 201, map[string]any{"id": 1.0}},
		{"unsupported media type", Options{}, "text/plain", `{"message":"a"}`, 415,
			map[string]any{"error": `Content-Type must be application/json, got "text/plain"`}},
		{"too large", Options{}, "application/json", `{"message":"` + strings.Repeat("x", 1<<20) + `"}`, 413, nil},
		{"bad request", Options{}, "application/json", `{"message":"a","writeconcern":2}`, 400,
			map[string]any{"error": `unknown field "writeconcern" (known: message, messages, writeConcern, timeoutMs)`}},
		{"write concern above the cluster", Options{Limits: Limits{ClusterSize: 3}}, "application/json",
			`{"message":"a","writeConcern":4}`, 400, nil},
		{"read-only without a quorum", Options{Quorum: 2, Limits: Limits{ClusterSize: 3}}, "application/json",
			`{"message":"a"}`, 503, map[string]any{"readOnly": true, "error": "read-only: 1 of 3 nodes healthy, 2 needed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMaster(t, c.opts)
			a := m.post(c.contentType, c.body)
			check(t, c.name, a, c.status, c.want)
			if _, ok := a.body["error"].(string); c.status >= 400 && !ok {
				t.Fatalf("an error reply without a message: %v", a.body)
			}
			if wantLast := uint64(0); c.status >= 400 && m.store.LastID() != wantLast {
				t.Fatalf("a refused append left id %d in the log", m.store.LastID())
			}
		})
	}
}

func TestAppendWaitsForItsWriteConcern(t *testing.T) {
	m := newMaster(t, Options{})
	s1 := m.secondary("s1")
	reply := make(chan answer, 1)
	go func() { reply <- m.postJSON(`{"message":"a","writeConcern":2}`) }()
	s1.ExpectIDs(1, 1)
	select {
	case a := <-reply:
		t.Fatalf("w=2 answered before the secondary acked: %+v", a)
	case <-time.After(100 * time.Millisecond): // a bounded watch: the secondary holds the message, unacked
	}
	s1.Send(frametest.Ack(1))
	select {
	case a := <-reply:
		check(t, "w=2 after the ack", a, 201, map[string]any{"id": 1.0, "acks": 2.0})
	case <-time.After(5 * time.Second):
		t.Fatal("w=2 did not answer after the ack")
	}
}

func TestAppendTimeoutSaysHowFarItGot(t *testing.T) {
	m := newMaster(t, Options{})
	s1 := m.secondary("s1")
	m.secondary("s2") // connected, never acks
	reply := make(chan answer, 1)
	go func() { reply <- m.postJSON(`{"message":"a","writeConcern":3,"timeoutMs":200}`) }()
	s1.ExpectIDs(1, 1)
	s1.Send(frametest.Ack(1))
	a := <-reply
	check(t, "w=3 with one secondary acking", a, 504, map[string]any{"id": 1.0, "acks": 2.0,
		"error": "write concern not met in 200ms: held by 2 of 3 nodes"})
	if m.store.LastID() != 1 {
		t.Fatalf("a 504'd message is not kept: last id %d", m.store.LastID())
	}
}

func TestAppendIdempotencyKey(t *testing.T) {
	m := newMaster(t, Options{})
	key := []string{"Idempotency-Key", "order-42"}
	check(t, "first", m.postJSON(`{"message":"pay"}`, key...), 201, map[string]any{"id": 1.0, "acks": 1.0})
	check(t, "repeat", m.postJSON(`{"message":"pay"}`, key...), 200, map[string]any{"id": 1.0, "acks": 1.0, "duplicate": true})
	check(t, "same key, another message", m.postJSON(`{"message":"refund"}`, key...), 422,
		map[string]any{"error": `Idempotency-Key "order-42" was already used for another message or batch`})
	check(t, "bad key", m.postJSON(`{"message":"pay"}`, "Idempotency-Key", "with space"), 400, nil)
	if m.store.LastID() != 1 {
		t.Fatalf("repeats appended: last id %d", m.store.LastID())
	}
}

// timeAfter100ms is a bounded watch for something that must not happen.
func timeAfter100ms() <-chan time.Time { return time.After(100 * time.Millisecond) }

// TestReadRoutesMatchTheDescription: the master's read routes, through
// the validating client.
func TestReadRoutesMatchTheDescription(t *testing.T) {
	m := newMaster(t, Options{FaultsAPI: true, Registry: metrics.NewRegistry()})
	m.secondary("s1")
	check(t, "append", m.postJSON(`{"message":"a"}`), 201, nil)
	for _, path := range []string{"/health", "/messages", "/messages?from=1&limit=1", "/messages?from=2&waitMs=10",
		"/messages?waitMs=70000", "/messages?from=0", "/dashboard/state", "/", "/metrics"} {
		resp, err := m.client.Get(m.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
	}
}
