package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeCluster is the services `master check` talks to: a standby that
// redirects appends to the leader, a leader that answers 503 (no leader
// yet) to its first append, and a secondary that shows what the leader
// holds once it has been read lagging a few times.
type fakeCluster struct {
	refuse  int // the leader's status for every append, when set
	lagging int // reads that see nothing yet; -1: never shows anything

	mu       sync.Mutex
	appends  int
	keys     map[string]bool
	concerns []any
	log      []string
	reads    int
}

func (f *fakeCluster) leader(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message      string `json:"message"`
		WriteConcern any    `json:"writeConcern"`
	}
	if r.Method != http.MethodPost || r.URL.Path != "/messages" || json.NewDecoder(r.Body).Decode(&body) != nil {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	f.keys[r.Header.Get("Idempotency-Key")] = true
	f.concerns = append(f.concerns, body.WriteConcern)
	switch {
	case f.refuse != 0:
		w.WriteHeader(f.refuse)
		fmt.Fprintln(w, `{"error":"writeConcern 9 is more than the cluster's 5 nodes"}`)
	case f.appends == 1:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"error":"no leader"}`)
	default:
		f.log = append(f.log, body.Message)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"acks":3}`+"\n", len(f.log))
	}
}

func (f *fakeCluster) secondary(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	type entry struct {
		ID      int    `json:"id"`
		Message string `json:"message"`
	}
	page := struct {
		Messages []entry `json:"messages"`
	}{Messages: []entry{}}
	if f.lagging >= 0 && f.reads > f.lagging && from >= 1 && from <= len(f.log) {
		page.Messages = append(page.Messages, entry{from, f.log[from-1]})
	}
	_ = json.NewEncoder(w).Encode(page)
}

// start serves the fake cluster: the write URL (the standby) and the read URL.
func (f *fakeCluster) start(t *testing.T) (write, read string) {
	f.keys = map[string]bool{}
	f.log = []string{"an earlier message"}
	leader := httptest.NewServer(http.HandlerFunc(f.leader))
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leader.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	secondary := httptest.NewServer(http.HandlerFunc(f.secondary))
	t.Cleanup(func() { standby.Close(); leader.Close(); secondary.Close() })
	return standby.URL, secondary.URL
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name        string
		cluster     *fakeCluster
		env         []string
		status      int
		out, errOut string // in stdout, in stderr
		concern     any    // the write concern every append asked for
	}{
		{"through the standby's redirect, read back", &fakeCluster{lagging: 3}, []string{"WRITE_CONCERN=3"},
			0, "appended id 2 at writeConcern 3", "", 3.0},
		{"majority by default", &fakeCluster{}, nil, 0, "appended id 2 at writeConcern majority", "", "majority"},
		{"never on a secondary", &fakeCluster{lagging: -1}, []string{"CHECK_TIMEOUT=2s"},
			1, "", "id 2 is not on", "majority"},
		{"refused: no retry", &fakeCluster{refuse: http.StatusBadRequest}, []string{"WRITE_CONCERN=9"},
			1, "", "append refused by 127.0.0.1", 9.0},
		{"no leader until the end", &fakeCluster{refuse: http.StatusServiceUnavailable}, []string{"CHECK_TIMEOUT=300ms"},
			1, "", "still failing after", "majority"},
	} {
		t.Run(c.name, func(t *testing.T) {
			write, read := c.cluster.start(t)
			status, out, errOut := exec(t, append([]string{"WRITE_URL=" + write, "READ_URL=" + read}, c.env...), "check")
			if status != c.status || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.errOut) {
				t.Errorf("status %d, stdout %q, stderr %q; want %d, %q, %q", status, out, errOut, c.status, c.out, c.errOut)
			}
			f := c.cluster
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.keys) != 1 || f.appends == 0 {
				t.Errorf("%d appends with %d Idempotency-Keys, want one key for every try", f.appends, len(f.keys))
			}
			for _, got := range f.concerns {
				if got != c.concern {
					t.Errorf("writeConcern %v (%T), want %v", got, got, c.concern)
				}
			}
		})
	}
}

func TestCheckSettings(t *testing.T) {
	for _, c := range []struct {
		env  []string
		line string
	}{
		{[]string{"READ_URL=http://r"}, "WRITE_URL"},
		{[]string{"WRITE_URL=http://w"}, "READ_URL"},
		{[]string{"WRITE_URL=http://w", "READ_URL=http://r", "WRITE_CONCERN=0"}, "WRITE_CONCERN"},
		{[]string{"WRITE_URL=http://w", "READ_URL=http://r", "WRITE_CONCERN=most"}, "WRITE_CONCERN"},
		{[]string{"WRITE_URL=http://w", "READ_URL=http://r", "CHECK_TIMEOUT=soon"}, "CHECK_TIMEOUT"},
	} {
		t.Run(c.line, func(t *testing.T) {
			for _, name := range []string{"WRITE_URL", "READ_URL", "WRITE_CONCERN", "CHECK_TIMEOUT"} {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
			status, _, errOut := exec(t, c.env, "check")
			if status != 2 || !strings.HasPrefix(errOut, "master check: ") || !strings.Contains(errOut, c.line) {
				t.Errorf("%v: status %d, stderr %q; want 2 naming %s", c.env, status, errOut, c.line)
			}
		})
	}
}
