package clustertest

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestBadInput: every bad request gets its status and a JSON error, and
// nothing is appended.
func TestBadInput(t *testing.T) {
	m := startMaster(t, "CLUSTER_SIZE=3", "QUORUM=1", "MAX_MESSAGE_BYTES=16", "MAX_BATCH_BYTES=4096")
	if r := appendMsg(t, m, "kept", 1); r.Status != 201 {
		t.Fatalf("a good append: %+v", r)
	}
	cases := []struct {
		name, body, contentType string
		status                  int
		errHas                  string
	}{
		{"malformed JSON", `{"message": "x"`, "", 400, "malformed JSON"},
		{"not an object", `["x"]`, "", 400, "JSON object"},
		{"missing message", `{"writeConcern": 1}`, "", 400, "message (or messages, for a batch) is required"},
		{"empty message", `{"message": ""}`, "", 400, "must not be empty"},
		{"message not a string", `{"message": 5}`, "", 400, "message must be a string"},
		{"writeConcern 0", `{"message": "x", "writeConcern": 0}`, "", 400, "writeConcern"},
		{"writeConcern -1", `{"message": "x", "writeConcern": -1}`, "", 400, "writeConcern"},
		{"writeConcern 1.5", `{"message": "x", "writeConcern": 1.5}`, "", 400, "writeConcern"},
		{"writeConcern string", `{"message": "x", "writeConcern": "2"}`, "", 400, "writeConcern"},
		{"writeConcern bool", `{"message": "x", "writeConcern": true}`, "", 400, "writeConcern"},
		{"writeConcern over cluster size", `{"message": "x", "writeConcern": 4}`, "", 400, "CLUSTER_SIZE"},
		{"timeoutMs negative", `{"message": "x", "timeoutMs": -1}`, "", 400, "timeoutMs"},
		{"timeoutMs fractional", `{"message": "x", "timeoutMs": 1.5}`, "", 400, "timeoutMs"},
		{"timeoutMs string", `{"message": "x", "timeoutMs": "100"}`, "", 400, "timeoutMs"},
		{"typo in a field name", `{"message": "x", "writeconcern": 2}`, "", 400, `"writeconcern"`},
		{"unknown field", `{"message": "x", "priority": 2}`, "", 400, `"priority"`},
		{"duplicate field", `{"message": "x", "message": "y"}`, "", 400, "twice"},
		{"trailing data", `{"message": "x"} {}`, "", 400, "after the object"},
		{"too large", `{"message": "12345678901234567"}`, "", 413, "MAX_MESSAGE_BYTES"},
		{"body far too large", `{"message": "` + strings.Repeat("x", 1<<20) + `"}`, "", 413, "larger than"},
		{"form content type", `{"message": "x"}`, "application/x-www-form-urlencoded", 415, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := post(t, m, c.body, "Content-Type", ct)
			if r.Status != c.status || !strings.Contains(r.Error, c.errHas) {
				t.Fatalf("got %d %q; want %d with %q", r.Status, r.Error, c.status, c.errHas)
			}
		})
	}
	if err := sameLog(m, entries("kept")); err != nil {
		t.Fatalf("a rejected request changed the log: %v", err)
	}
	for _, q := range []string{"from=0", "from=x", "limit=0", "limit=-3", "limit=abc"} {
		resp, err := client.Get(m.url() + "/messages?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /messages?%s: %s, want 400", q, resp.Status)
		}
	}
	if r := appendMsg(t, m, "legacy", 1); r.Status != 201 {
		t.Fatalf("append after the bad ones: %+v", r)
	}
}

// TestSecondaryRefusesWrites: writes to a secondary get 405 and a pointer
// to the master.
func TestSecondaryRefusesWrites(t *testing.T) {
	m := startMaster(t)
	s := startSecondary(t, "s1", m)
	for _, route := range []string{"/messages", "/newMessage"} {
		r := postTo(t, s.url()+route, `{"message":"x"}`)
		if r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Error, "master") {
			t.Fatalf("POST %s on a secondary: %+v", route, r)
		}
	}
}

// TestNewMessageRoute: the original system's route appends too.
func TestNewMessageRoute(t *testing.T) {
	m := startMaster(t)
	resp, err := client.Post(m.url()+"/newMessage", "application/json", strings.NewReader(`{"message":"legacy"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /newMessage: %s", resp.Status)
	}
	if err := sameLog(m, entries("legacy")); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidConfiguration: bad settings stop the binary at start with
// status 2 and one line naming the variable.
func TestInvalidConfiguration(t *testing.T) {
	master, secondary := binary(t, "master"), binary(t, "secondary")
	cases := []struct {
		bin, env, names string
	}{
		{master, "MAX_MESSAGE_BYTES=-5", "MAX_MESSAGE_BYTES"},
		{master, "CLUSTER_SIZE=-1", "CLUSTER_SIZE"},
		{master, "CLUSTER_SIZE=three", "CLUSTER_SIZE"},
		{master, "SHUTDOWN_TIMEOUT=soon", "SHUTDOWN_TIMEOUT"},
		{master, "LOG_LEVEL=loud", "LOG_LEVEL"},
		{master, "LOG_FORMAT=xml", "LOG_FORMAT"},
		{master, "QUORUM=-1", "QUORUM"},
		{master, "CLUSTER_SIZE=3\x00QUORUM=4", "QUORUM"},
		{master, "HEARTBEAT_INTERVAL=0s", "HEARTBEAT_INTERVAL"},
		{master, "WRITE_TIMEOUT=-1s", "WRITE_TIMEOUT"},
		{master, "IDEMPOTENCY_WINDOW=forever", "IDEMPOTENCY_WINDOW"},
		{secondary, "FAIL_RATE=1.5", "FAIL_RATE"},
		{master, "FSYNC=sometimes", "FSYNC"},
		{master, "FORGET_SECONDARY_AFTER=0s", "FORGET_SECONDARY_AFTER"},
		{secondary, "FSYNC_INTERVAL=0s", "FSYNC_INTERVAL"},
		{secondary, "SHUTDOWN_TIMEOUT=-1s", "SHUTDOWN_TIMEOUT"},
		{secondary, "REPLICATION_DELAY=2s-1s", "REPLICATION_DELAY"},
		{secondary, "MASTER_URL=http://localhost:8080/replicate", "MASTER_URL"},
		{secondary, "MASTER_URL=localhost:8080", "MASTER_URL"},
		{master, "RETENTION_MAX_MESSAGES=-1", "RETENTION_MAX_MESSAGES"},
		{master, "RETENTION_MAX_BYTES=lots", "RETENTION_MAX_BYTES"},
		{master, "RETENTION_MAX_AGE=forever", "RETENTION_MAX_AGE"},
		{secondary, "SEGMENT_BYTES=1000", "SEGMENT_BYTES"},
		{master, "MAX_WAITING_WRITES=0", "MAX_WAITING_WRITES"},
		{master, "MAX_REPLICATION_PEERS=0", "MAX_REPLICATION_PEERS"},
		{secondary, "MAX_LARGE_READS=0", "MAX_LARGE_READS"},
		{master, "HTTP_READ_HEADER_TIMEOUT=0s", "HTTP_READ_HEADER_TIMEOUT"},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			cmd := exec.Command(c.bin)
			cmd.Env = append(strings.Split(c.env, "\x00"), "HTTP_ADDR=127.0.0.1:0")
			out, err := cmd.CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2; output %s", err, out)
			}
			if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 || !strings.Contains(string(out), c.names) {
				t.Fatalf("want one line naming %s, got:\n%s", c.names, out)
			}
		})
	}
}
