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
	"strconv"
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
	cmd := exec.Command("go", "build", "-race", "-o", out, ".")
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
	t    *testing.T
	name string
	logs *syncBuffer
}

func newNode(t *testing.T, name, bin string, env ...string) *node {
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	return &node{t: t, name: name, logs: logs, Node: &proc.Node{Name: name, Bin: bin, Addr: addr, Logs: logs,
		Env: append([]string{"HTTP_ADDR=" + addr, "LOG_FORMAT=console", "LOG_LEVEL=debug"}, env...)}}
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

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startMaster starts a master on a free port; env adds settings.
func startMaster(t *testing.T, env ...string) *node {
	n := newNode(t, "master", binary(t, "master"), env...)
	n.start()
	return n
}

// startSecondary starts a secondary named name that replicates master,
// and waits until it is connected.
func startSecondary(t *testing.T, name string, master *node, env ...string) *node {
	n := startDetached(t, name, master, env...)
	n.Ready = connected(n)
	checkFor(t, 20*time.Second, n.Ready)
	return n
}

// startDetached starts a secondary without waiting for it to connect.
func startDetached(t *testing.T, name string, master *node, env ...string) *node {
	n := newNode(t, name, binary(t, "secondary"),
		append([]string{"NODE_NAME=" + name, "MASTER_URL=ws://" + master.Addr + "/replicate"}, env...)...)
	n.start()
	return n
}

// connected checks that a secondary says it is connected to its master.
func connected(n *node) func() error {
	return func() error {
		h, err := getJSON[map[string]any](n.url() + "/health")
		if err == nil && h["master"] != "connected" {
			err = fmt.Errorf("%s: master is %v", n.name, h["master"])
		}
		return err
	}
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

func (n *node) wait(d time.Duration) {
	n.t.Helper()
	if err := n.Wait(d); err != nil {
		n.t.Fatal(err)
	}
}

// checkFor polls f until it returns nil, failing the test if timeout
// passes first.
func checkFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	if err := proc.Poll(timeout, f); err != nil {
		t.Fatal(err)
	}
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, n.Pid())
	return 0
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
