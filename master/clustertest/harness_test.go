package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/frame"
)

// bins holds the binaries, built once (with the race detector) by the
// first test that starts a node.
var bins struct {
	once              sync.Once
	dir               string
	master, secondary string
	err               error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binary returns the path of the master or secondary binary.
func binary(t *testing.T, name string) string {
	t.Helper()
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "replog-bin-"); bins.err != nil {
			return
		}
		bins.master, bins.secondary = filepath.Join(bins.dir, "master"), filepath.Join(bins.dir, "secondary")
		if bins.err = build("..", bins.master); bins.err == nil {
			bins.err = build("../../secondary", bins.secondary)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	if name == "master" {
		return bins.master
	}
	return bins.secondary
}

func build(pkgDir, out string) error {
	// testbreak: the binaries take REPLOG_TEST_BREAK (a deliberate bug
	// for the chaos test to find; see master/internal/failover/testbreak.go).
	cmd := exec.Command("go", "build", "-race", "-tags", "testbreak", "-o", out, ".")
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkgDir, err, b)
	}
	return nil
}

// node is one running replog process, tied to a test: every start is
// killed when the test ends, which fails if the node reported a data race
// and prints the node's logs if the test failed.
type node struct {
	*proc.Node
	t       *testing.T
	name    string
	logs    *syncBuffer
	cluster *proc.Cluster // the cluster it is in, where its secondaries join
}

// newCluster is a cluster of the race-built binaries, logging at debug
// level into each node's buffer.
func newCluster(t *testing.T) *proc.Cluster {
	binary(t, "master") // builds both
	return &proc.Cluster{Bin: bins.dir, Env: []string{"LOG_FORMAT=console", "LOG_LEVEL=debug"}}
}

// addNode adds the node s describes to c, without starting it.
func addNode(t *testing.T, c *proc.Cluster, s proc.Spec) *node {
	t.Helper()
	logs := &syncBuffer{}
	s.Logs = logs
	n, err := c.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	return &node{Node: n, t: t, name: s.Name, logs: logs, cluster: c}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMaster starts a master on a free port, in a cluster of its own;
// env adds settings.
func startMaster(t *testing.T, env ...string) *node {
	n := addNode(t, newCluster(t), proc.Spec{Name: "master", Env: env})
	n.start()
	return n
}

// startSecondary starts a secondary named name that replicates master,
// and waits until it is connected.
func startSecondary(t *testing.T, name string, master *node, env ...string) *node {
	return startIn(t, master, proc.Spec{Name: name, Role: proc.Secondary, Env: env})
}

// startDetached starts a secondary without waiting for it to connect.
func startDetached(t *testing.T, name string, master *node, env ...string) *node {
	return startIn(t, master, proc.Spec{Name: name, Role: proc.Secondary, Env: env, Detached: true})
}

// startIn starts the node s describes in master's cluster: a secondary
// is connected when it returns, unless s.Detached (and again after every
// restart).
func startIn(t *testing.T, master *node, s proc.Spec) *node {
	t.Helper()
	n := addNode(t, master.cluster, s)
	n.start()
	return n
}

func (n *node) url() string { return n.URL() }

func (n *node) start() {
	n.t.Helper()
	if err := n.tryStart(); err != nil {
		n.t.Fatal(err)
	}
}

// tryStart is start for goroutines other than the test's: it only returns
// errors.
func (n *node) tryStart() error {
	err := n.Start()
	done := n.Done()
	if done == nil {
		return err // it never ran
	}
	n.t.Cleanup(func() {
		n.Signal(syscall.SIGKILL)
		<-done
		if strings.Contains(n.logs.String(), "WARNING: DATA RACE") {
			n.t.Errorf("%s reported a data race", n.name)
		}
		if n.t.Failed() {
			n.t.Logf("--- logs of %s ---\n%s", n.name, n.logs.String())
		}
	})
	return err
}

func (n *node) signal(sig syscall.Signal) { n.Signal(sig) }

// kill SIGKILLs the process and waits for it to be gone.
func (n *node) kill() {
	n.t.Helper()
	if err := n.Kill(); err != nil {
		n.t.Fatal(err)
	}
}

// tryKill is kill for goroutines other than the test's.
func (n *node) tryKill() error { return n.Kill() }

// stop SIGTERMs the process and returns its exit code.
func (n *node) stop() int {
	n.t.Helper()
	code, err := n.Stop(30 * time.Second)
	if err != nil {
		n.t.Fatal(err)
	}
	return code
}

var client = &http.Client{Timeout: 60 * time.Second}

func getJSON[T any](url string) (T, error) {
	var v T
	return v, proc.GetJSON(url, &v)
}

// mustGet is getJSON on the test's goroutine: an error fails the test.
func mustGet[T any](t *testing.T, url string) T {
	t.Helper()
	v, err := getJSON[T](url)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// logIDOf reads a node's log id from its /health, failing the test when
// there is none.
func logIDOf(t *testing.T, n *node) string {
	t.Helper()
	id, _ := mustGet[map[string]any](t, n.url()+"/health")["logId"].(string)
	if id == "" {
		t.Fatalf("%s's /health shows no logId", n.name)
	}
	return id
}

// reply is an append's outcome as the client saw it.
type reply struct {
	Status    int
	ID        uint64 `json:"id"`
	FirstID   uint64 `json:"firstId"` // a batch's
	LastID    uint64 `json:"lastId"`
	Acks      int    `json:"acks"`
	Error     string `json:"error"`
	Duplicate bool   `json:"duplicate"`
	ReadOnly  bool   `json:"readOnly"`
}

// post sends body to the master's append route.
func post(t *testing.T, n *node, body string, header ...string) reply {
	t.Helper()
	return postTo(t, n.url()+"/messages", body, header...)
}

// postTo sends a JSON body to url; header adds name, value pairs.
func postTo(t *testing.T, url, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", body, err)
		return reply{}
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Errorf("POST %s: reply %q is not JSON: %v", body, b, err)
	}
	return r
}

func appendMsg(t *testing.T, n *node, msg string, w int) reply {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": w})
	return post(t, n, string(b))
}

// mustLogOf is logOf on the test's goroutine: an error fails the test.
func mustLogOf(t *testing.T, n *node) []frame.Entry {
	t.Helper()
	l, err := logOf(n)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type messagesReply struct {
	Messages []frame.Entry `json:"messages"`
}

// logOf reads a node's whole log, page by page.
func logOf(n *node) ([]frame.Entry, error) {
	var all []frame.Entry
	for {
		from := uint64(1)
		if len(all) > 0 {
			from = all[len(all)-1].ID + 1 // by id: retention may have dropped the first ones
		}
		page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d", n.url(), from))
		if err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if len(page.Messages) == 0 {
			return all, nil
		}
	}
}

// sameLog checks that n holds exactly want.
func sameLog(n *node, want []frame.Entry) error {
	got, err := logOf(n)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s holds %d messages, want %d", n.name, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("%s: entry %d is %+v, want %+v", n.name, i, got[i], want[i])
		}
	}
	return nil
}

// checkGapFree checks ids 1..n, each message once.
func checkGapFree(t *testing.T, log []frame.Entry) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range log {
		if e.ID != uint64(i+1) {
			t.Fatalf("entry %d has id %d: the log has a gap or is out of order", i, e.ID)
		}
		if seen[e.Message] {
			t.Fatalf("message %q appears twice", e.Message)
		}
		seen[e.Message] = true
	}
}

// stream appends w=1 messages until stop; every append must succeed.
func stream(t *testing.T, m *node, prefix string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		untilStopped(stop, func(i int) bool {
			if r := appendMsg(t, m, fmt.Sprintf("%s-%d", prefix, i), 1); r.Status != 201 {
				t.Errorf("append during the fault: %+v", r)
				return false
			}
			return true
		})
	})
	return &wg
}

// untilStopped calls f with 0, 1, 2, … until stop is closed or f returns
// false: the loop of every writer that runs through a fault.
func untilStopped(stop <-chan struct{}, f func(i int) bool) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if !f(i) {
			return
		}
	}
}

// stillWaiting checks that an append waiting for its write concern does
// not return for a while. Call it only once whatever could wrongly answer
// it has happened (a secondary holds the message): watching before then
// would pass however wrong the master is.
func stillWaiting(t *testing.T, waiting <-chan reply, what string) {
	t.Helper()
	select {
	case r := <-waiting:
		t.Fatalf("%s returned: %+v", what, r)
	case <-time.After(300 * time.Millisecond): // a bounded watch, not a wait for an event
	}
}

// awaitReply waits up to d for the reply of an append that was waiting
// for its write concern, and checks it was a 201 with at least acks acks.
func awaitReply(t *testing.T, waiting <-chan reply, d time.Duration, acks int) reply {
	t.Helper()
	select {
	case r := <-waiting:
		if r.Status != 201 || r.Acks < acks {
			t.Fatalf("the waiting append answered %+v, want 201 with %d acks", r, acks)
		}
		return r
	case <-time.After(d):
		t.Fatalf("the waiting append did not return within %s", d)
		return reply{}
	}
}

// procStatus reads a size field (VmRSS, VmHWM) of a node's
// /proc/<pid>/status, in bytes.
func procStatus(t *testing.T, n *node, field string) int64 {
	t.Helper()
	v, err := proc.Status(n.Pid(), field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// put sends a JSON body with PUT to url and returns the status.
func put(t *testing.T, url, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return reply{Status: resp.StatusCode}
}
