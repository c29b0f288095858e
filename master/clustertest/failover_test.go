package clustertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/certs/certstest"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/metrics/metricstest"
	"github.com/replog/replog/shared/poll"
)

// Failover timings for tests: a leader silent for a second is replaced.
var failoverEnv = []string{"HEARTBEAT_INTERVAL=100ms", "FAILOVER_TIMEOUT=1s"}

// failoverCluster is masters master-capable nodes (m1, m2, …) and
// secondaries secondaries (s1, …), all durable, in one cluster with
// failover, started and agreed on one leader.
type failoverCluster struct {
	t           *testing.T
	masters     []*node
	secondaries []*node
	dir         string
	links       map[[2]string]*proxy // [dialer, master] → the proxy between (startFailoverWith)
	size        int                  // CLUSTER_SIZE
}

// isolate cuts every link to and from n.
func (fc *failoverCluster) isolate(n *node) {
	for k, p := range fc.links {
		if k[0] == n.name || k[1] == n.name {
			p.Cut()
		}
	}
}

// heal heals every link.
func (fc *failoverCluster) heal() {
	for _, p := range fc.links {
		p.Heal()
	}
}

func startFailover(t *testing.T, masters, secondaries int, env ...string) *failoverCluster {
	t.Helper()
	return startFailoverWith(t, masters, secondaries, false, env...)
}

// startFailoverWith is startFailover; with proxied, every node reaches
// every master through a proxy of its own (fc.links), for partitions.
func startFailoverWith(t *testing.T, masters, secondaries int, proxied bool, env ...string) *failoverCluster {
	t.Helper()
	c := newCluster(t)
	dir := t.TempDir()
	names := make([]string, masters)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i+1)
	}
	specs, err := proc.PeerSpecs(names, masters+secondaries, dir, append(failoverEnv, env...)...)
	if err != nil {
		t.Fatal(err)
	}
	fc := &failoverCluster{t: t, dir: dir, links: map[[2]string]*proxy{}, size: masters + secondaries}
	snames := make([]string, secondaries)
	for i := range snames {
		snames[i] = fmt.Sprintf("s%d", i+1)
	}
	if proxied {
		taken := map[string]bool{}
		for _, s := range specs {
			taken[s.Addr] = true
		}
		for _, from := range append(append([]string{}, names...), snames...) {
			for i, to := range names {
				if from != to {
					fc.links[[2]string{from, to}] = newProxyAvoiding(t, specs[i].Addr, taken)
				}
			}
		}
		for i := range specs {
			var peers []string
			for j, to := range names {
				if i != j {
					peers = append(peers, to+"=http://"+fc.links[[2]string{names[i], to}].Addr())
				}
			}
			specs[i].Env = append(specs[i].Env, "PEERS="+strings.Join(peers, ","))
		}
	}
	for _, s := range specs {
		fc.masters = append(fc.masters, addNode(t, c, s))
	}
	for _, name := range snames {
		spec := proc.Spec{Name: name, Role: proc.Secondary, Detached: true,
			Env: []string{"DATA_DIR=" + filepath.Join(dir, name), "FSYNC=always", "CLUSTER_STATE=new"}}
		if proxied {
			spec.Via = func(m *proc.Node) string { return fc.links[[2]string{name, m.Name}].Addr() }
		}
		fc.secondaries = append(fc.secondaries, addNode(t, c, spec))
	}
	var wg sync.WaitGroup
	for _, n := range append(append([]*node{}, fc.masters...), fc.secondaries...) {
		wg.Go(func() {
			if err := n.tryStart(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if !slices.Contains(env, "FAILOVER=manual") { // which elects no one until a POST /promote
		fc.leader()
	}
	return fc
}

// all is every node, masters first.
func (fc *failoverCluster) all() []*node {
	return append(append([]*node{}, fc.masters...), fc.secondaries...)
}

// leader waits until every live node names the same leader, and
// returns it.
func (fc *failoverCluster) leader(except ...*node) *node {
	fc.t.Helper()
	leader, err := agreedLeader(fc, 20*time.Second, except...)
	if err != nil {
		fc.t.Fatal(err)
	}
	return leader
}

func contains(ns []*node, n *node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

// standby is a master that does not lead.
func (fc *failoverCluster) standby(leader *node) *node {
	for _, m := range fc.masters {
		if m != leader {
			return m
		}
	}
	return nil
}

// noRedirects is a client that shows a 307 instead of following it.
var noRedirects = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestFailoverOneLeaderAndStandbysRedirect(t *testing.T) {
	fc := startFailover(t, 3, 2)
	leader := fc.leader()
	standby := fc.standby(leader)
	if r := appendMsg(t, leader, "to the leader", 5); r.Status != http.StatusCreated || r.ID != 1 {
		t.Fatalf("append at w=5 to the leader: %+v", r)
	}
	req, _ := http.NewRequest(http.MethodPost, standby.url()+"/messages?x=1", strings.NewReader(`{"message":"via a standby","writeConcern":3}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != leader.url()+"/messages?x=1" {
		t.Fatalf("a write to a standby: %d, Location %q, %s; want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), b, leader.url())
	}
	// The default client follows the 307 with the body, as curl -L does.
	if r := post(t, standby, `{"message":"via a standby","writeConcern":3}`); r.Status != http.StatusCreated || r.ID != 2 {
		t.Fatalf("a write through a standby: %+v", r)
	}
	var h struct {
		Role  string `json:"role"`
		Epoch uint64 `json:"epoch"`
	}
	if err := standby.GetJSON("/health", &h); err != nil || h.Role != "standby" || h.Epoch == 0 {
		t.Fatalf("standby's health: %+v, %v", h, err)
	}
	if err := leader.GetJSON("/health", &h); err != nil || h.Role != "master" {
		t.Fatalf("leader's health: %+v, %v", h, err)
	}
	want := mustLogOf(t, leader)
	for _, n := range fc.all() {
		if err := poll.For(10*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
	}
}

// writer appends one message after another to whichever master takes it
// (following redirects), recording what was acknowledged at w.
type writer struct {
	client *http.Client // nil: the package's client
	mu     sync.Mutex
	acked  map[uint64]string // id → message, for 201s
	at     [][2]time.Time    // when each acknowledged write was sent, and when its 201 came
	n      int
	w      int // the write concern
}

func (w *writer) run(t *testing.T, fc *failoverCluster, prefix string, wc int, stop <-chan struct{}) *sync.WaitGroup {
	w.w = wc
	majority := fc.size/2 + 1
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := fc.masters[i%len(fc.masters)]
			msg := fmt.Sprintf("%s-%d", prefix, i)
			b, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": wc, "timeoutMs": 2000})
			req, _ := http.NewRequest(http.MethodPost, m.url()+"/messages", strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/json")
			c := w.client
			if c == nil {
				c = client
			}
			sent := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				continue // a killed node
			}
			var r reply
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				w.mu.Lock()
				if w.acked == nil {
					w.acked = map[uint64]string{}
				}
				if old, dup := w.acked[r.ID]; dup && wc >= majority {
					t.Errorf("id %d acknowledged at a majority for %q and %q", r.ID, old, msg)
				}
				w.acked[r.ID] = msg
				w.at = append(w.at, [2]time.Time{sent, time.Now()})
				w.n++
				w.mu.Unlock()
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return &wg
}

// holds checks that n's log holds every acknowledged write at its id.
func (w *writer) holds(n *node) error {
	log, err := logOf(n)
	if err != nil {
		return err
	}
	at := map[uint64]string{}
	for _, e := range log {
		at[e.ID] = e.Message
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, msg := range w.acked {
		if at[id] != msg {
			return fmt.Errorf("%s: id %d holds %q, acknowledged for %q", n.name, id, at[id], msg)
		}
	}
	return nil
}

func TestFailoverLeaderKilledStandbyLeadsAndMajorityWritesSurvive(t *testing.T) {
	fc := startFailover(t, 3, 2)
	leader := fc.leader()
	stop := make(chan struct{})
	var major, one writer
	wg1 := major.run(t, fc, "majority", 3, stop)
	wg2 := one.run(t, fc, "one", 1, stop)
	if err := poll.For(20*time.Second, func() error {
		major.mu.Lock()
		defer major.mu.Unlock()
		if major.n < 20 {
			return fmt.Errorf("%d majority writes so far", major.n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	leader.kill()
	next := fc.leader(leader)
	if next == leader {
		t.Fatalf("%s still named leader after its kill", leader.name)
	}
	// Writes succeed again through any live master.
	before := major.count()
	if err := poll.For(20*time.Second, func() error {
		if major.count() <= before {
			return fmt.Errorf("no majority write acknowledged since the kill")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("writes acknowledged again %s after the leader's kill", time.Since(killed).Round(time.Millisecond))
	text := metricstest.Scrape(t, next.url()+"/metrics")
	if metricstest.MustValue(t, text, "replog_is_leader") != 1 || metricstest.MustValue(t, text, "replog_promotions_total", `reason="failover"`) < 1 {
		t.Errorf("the new leader's metrics do not say it leads after a failover")
	}
	leader.start() // comes back as a standby, rolls back its diverged tail, follows
	close(stop)
	wg1.Wait()
	wg2.Wait()
	final := fc.leader()
	want := mustLogOf(t, final)
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
		if err := major.holds(n); err != nil {
			t.Error(err)
		}
	}
	checkGapFree(t, want)
	rolled := rolledBack(t, fc.dir)
	t.Logf("%d majority and %d w=1 writes acknowledged; %d messages in rollback files", major.count(), one.count(), len(rolled))
	acked := map[string]bool{}
	for _, m := range major.acked {
		acked[m] = true
	}
	for _, m := range rolled {
		if acked[m] {
			t.Errorf("a write acknowledged at a majority went to rollback/: %s", m)
		}
	}
}

// ackedAfter is when the first write sent after t was acknowledged, if
// one has been: a write sent before t may still be answered after it.
func (w *writer) ackedAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first, ok := time.Time{}, false
	for _, a := range w.at {
		if a[0].After(t) && (!ok || a[1].Before(first)) {
			first, ok = a[1], true
		}
	}
	return first, ok
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// rolledBack lists the messages in every node's rollback files: a
// master's DATA_DIR/rollback, a secondary's DATA_DIR/node-N/rollback.
func rolledBack(t *testing.T, dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "rollback", "*.jsonl"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "node-*", "rollback", "*.jsonl"))
	files = append(files, more...)
	var msgs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e frame.Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: %q: %v", f, line, err)
			}
			msgs = append(msgs, e.Message)
		}
	}
	return msgs
}

// TestFailoverSecondaryRollsBackADeposedLeadersTail: a leader cut off
// from all but one secondary still gets w=2 writes acknowledged (it and
// that secondary); the others elect a new leader without them; when the
// secondary follows the new leader it moves that tail to its rollback
// file, and its /health and /metrics say so (the alert on rolled-back
// messages watches secondaries too).
func TestFailoverSecondaryRollsBackADeposedLeadersTail(t *testing.T) {
	fc := startFailoverWith(t, 3, 2, true)
	old, s1 := fc.leader(), fc.secondaries[0]
	for i := range 3 {
		if r := appendMsg(t, old, fmt.Sprint("before-", i), fc.size); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	var h0 struct{ Epoch uint64 }
	if err := old.GetJSON("/health", &h0); err != nil {
		t.Fatal(err)
	}
	// The leader reaches s1 only, and does not know it yet (blackholes: it
	// turns read-only once its heartbeats go unanswered); s1 reaches no
	// other master, so that the election below cannot hear of the tail (a
	// candidate would copy it from s1's promise: nothing rolled back).
	for k, p := range fc.links {
		switch {
		case k == [2]string{s1.name, old.name}:
		case k[0] == old.name || k[1] == old.name:
			p.Blackhole()
		case k[0] == s1.name:
			p.Cut()
		}
	}
	var tail []string
	for i := range 3 {
		msg := fmt.Sprint("tail-", i)
		if r := appendMsg(t, old, msg, 2); r.Status != http.StatusCreated || r.Acks != 2 {
			t.Fatalf("a w=2 append to the leader and the secondary it still reaches: %+v", r)
		}
		tail = append(tail, msg)
	}
	var next *node
	if err := poll.For(20*time.Second, func() error {
		l, err := agreedLeader(fc, time.Second, old, s1)
		if err != nil {
			return err
		}
		if l == old {
			return fmt.Errorf("the others still name %s", old.name)
		}
		next = l
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range fc.without(old) {
		fc.links[[2]string{s1.name, m.name}].Heal()
	}
	want := 3 // s1 hears the new leader's higher epoch and follows it: the tail leaves its log
	if err := poll.For(20*time.Second, func() error {
		var h struct {
			RolledBack uint64
			Epoch      uint64
			Leader     struct{ Name string }
		}
		if err := s1.GetJSON("/health", &h); err != nil {
			return err
		}
		if h.Leader.Name != next.name || h.RolledBack != uint64(want) {
			return fmt.Errorf("%s follows %q and rolled back %d messages, want %s and %d", s1.name, h.Leader.Name, h.RolledBack, next.name, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	text := metricstest.Scrape(t, s1.url()+"/metrics")
	if got := metricstest.MustValue(t, text, "replog_rolled_back_messages_total"); got != float64(want) {
		t.Errorf("%s's replog_rolled_back_messages_total = %v, want %d", s1.name, got, want)
	}
	if got := metricstest.MustValue(t, text, "replog_epoch"); got <= float64(h0.Epoch) {
		t.Errorf("%s's replog_epoch = %v, want the new leader's, above %d", s1.name, got, h0.Epoch)
	}
	if got := rolledBack(t, filepath.Join(fc.dir, s1.name)); !slices.Equal(got, tail) {
		t.Errorf("%s's rollback files hold %q, want %q", s1.name, got, tail)
	}
	fc.heal()
	final := fc.leader()
	log := mustLogOf(t, final)
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, log) }); err != nil {
			t.Error(err)
		}
	}
	for _, e := range log {
		if strings.HasPrefix(e.Message, "tail-") {
			t.Errorf("id %d: the rolled-back %q is in the final log", e.ID, e.Message)
		}
	}
}

// TestFailoverAVoterOfALosingCandidateFollowsTheWinner: s2 promises
// epoch e to m3, which cannot win it (the two of them are cut off from
// the rest); m2 wins e on the other side (a switchover from m1). When
// the partition heals, s2 and m3 follow m2, the winner of the epoch they
// promised another: until a 30-minute soak found it, s2 refused m2 ("epoch
// already promised to another node") and, with no election to come,
// stayed leaderless for good. FAILOVER=manual: no election but the two
// asked for, so the epochs are exactly these.
func TestFailoverAVoterOfALosingCandidateFollowsTheWinner(t *testing.T) {
	fc := startFailoverWith(t, 3, 2, true, "FAILOVER=manual")
	m1, m2, m3, s2 := fc.masters[0], fc.masters[1], fc.masters[2], fc.secondaries[1]
	if r := postTo(t, m1.url()+"/promote", ""); r.Status != http.StatusOK {
		t.Fatalf("POST /promote on m1: %+v", r)
	}
	if l := fc.leader(); l != m1 {
		t.Fatalf("%s leads, want m1", l.name)
	}
	for i := range 3 {
		if r := appendMsg(t, m1, fmt.Sprint("before-", i), fc.size); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	side := map[string]bool{m3.name: true, s2.name: true}
	for k, p := range fc.links {
		if side[k[0]] != side[k[1]] {
			p.Cut()
		}
	}
	// s2 knows no leader and holds its link to m3, where m3's prepare
	// will come.
	if err := poll.For(20*time.Second, func() error { return linkedTo(s2, m3.name) }); err != nil {
		t.Fatal(err)
	}
	r := postTo(t, m3.url()+"/promote", "")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("POST /promote on m3, cut off with s2 only: %+v, want a 503", r)
	}
	promised := promiseOf(t, filepath.Join(fc.dir, s2.name, "node-*"))
	if promised.To != m3.name {
		t.Fatalf("s2 promised %+v, want m3's candidacy (its /promote: %s)", promised, r.Error)
	}
	if r := postTo(t, m2.url()+"/promote", ""); r.Status != http.StatusOK {
		t.Fatalf("POST /promote on m2 (a switchover from m1): %+v", r)
	}
	if l := fc.leader(m3, s2); l != m2 {
		t.Fatalf("%s leads, want m2", l.name)
	}
	var h struct{ Epoch uint64 }
	if err := m2.GetJSON("/health", &h); err != nil {
		t.Fatal(err)
	}
	if h.Epoch != promised.Epoch {
		t.Fatalf("m2 leads epoch %d, s2 promised %d to m3: not the case this test is for", h.Epoch, promised.Epoch)
	}
	for i := range 3 {
		if r := appendMsg(t, m2, fmt.Sprint("after-", i), 3); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	fc.heal()
	if l := fc.leader(); l != m2 {
		t.Fatalf("%s leads after the heal, want m2", l.name)
	}
	want := mustLogOf(t, m2)
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
	}
	if p := promiseOf(t, filepath.Join(fc.dir, s2.name, "node-*")); p != (election.Promise{Epoch: h.Epoch, To: m2.name}) {
		t.Errorf("s2's promise %+v, want epoch %d to m2, the leader it follows", p, h.Epoch)
	}
}

// promiseOf reads the promise.json of the one data directory dir matches.
func promiseOf(t *testing.T, dir string) election.Promise {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "promise.json"))
	if len(files) != 1 {
		t.Fatalf("promise.json under %s: %v", dir, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var p election.Promise
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	return p
}

func TestFailoverSwitchoverLosesNothing(t *testing.T) {
	fc := startFailover(t, 3, 1)
	leader := fc.leader()
	standby := fc.standby(leader)
	stop := make(chan struct{})
	var one, two, three writer
	wg1 := one.run(t, fc, "one", 1, stop)
	wg2 := two.run(t, fc, "two", 2, stop)
	wg3 := three.run(t, fc, "three", 3, stop)
	if err := poll.For(20*time.Second, func() error {
		if one.count() < 20 {
			return fmt.Errorf("%d writes so far", one.count())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := postTo(t, standby.url()+"/promote", "")
	if r.Status != http.StatusOK {
		t.Fatalf("POST /promote on %s: %+v", standby.name, r)
	}
	if got := fc.leader(); got != standby {
		t.Fatalf("after the switchover %s leads, want %s", got.name, standby.name)
	}
	n := one.count()
	if err := poll.For(20*time.Second, func() error { // writes go on against the new leader
		if one.count() < n+5 {
			return fmt.Errorf("%d writes since the switchover", one.count()-n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	close(stop)
	wg1.Wait()
	wg2.Wait()
	wg3.Wait()
	want := mustLogOf(t, standby)
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
		for _, w := range []*writer{&one, &two, &three} {
			if err := w.holds(n); err != nil {
				t.Error(err) // a switchover loses nothing, whatever the write concern
			}
		}
	}
	if msgs := rolledBack(t, fc.dir); len(msgs) != 0 {
		t.Errorf("a switchover rolled back %v", msgs)
	}
	if got := metricstest.MustValue(t, metricstest.Scrape(t, standby.url()+"/metrics"), "replog_promotions_total", `reason="switchover"`); got != 1 {
		t.Errorf("promotions by switchover on %s: %v", standby.name, got)
	}
	if got := metricstest.MustValue(t, metricstest.Scrape(t, leader.url()+"/metrics"), "replog_is_leader"); got != 0 {
		t.Errorf("the old leader's replog_is_leader is %v", got)
	}
}

// dataDir is where node n keeps its log in the cluster.
func (fc *failoverCluster) dataDir(n *node) string { return filepath.Join(fc.dir, n.name) }

func TestFailoverWipedStandbyRejoinsAsALearnerAndNeverLeads(t *testing.T) {
	fc := startFailover(t, 3, 2)
	leader := fc.leader()
	wiped := fc.standby(leader)
	for i := range 5 {
		if r := appendMsg(t, leader, fmt.Sprint("before-", i), 3); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	wiped.kill()
	if err := os.RemoveAll(fc.dataDir(wiped)); err != nil {
		t.Fatal(err)
	}
	// CLUSTER_STATE=new left on with the volume lost: refused, naming it.
	if err := wiped.Start(); err == nil {
		t.Fatal("a wiped node with CLUSTER_STATE=new started")
	}
	if code, _ := wiped.Stop(10 * time.Second); code != 2 || !strings.Contains(wiped.logs.String(), "master: CLUSTER_STATE: new, but") {
		t.Fatalf("exit %d; want 2 and one line naming CLUSTER_STATE; logs:\n%s", code, wiped.logs.String())
	}
	wiped.Env = append(wiped.Env, "CLUSTER_STATE=")
	wiped.start()
	var h struct {
		Learner bool   `json:"learner"`
		LastID  uint64 `json:"lastId"`
	}
	if err := poll.For(20*time.Second, func() error {
		if err := wiped.GetJSON("/health", &h); err != nil {
			return err
		}
		if !h.Learner || h.LastID != 5 {
			return fmt.Errorf("learner %v, lastId %d", h.Learner, h.LastID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Its acks count for nothing, and with the leader gone it never
	// stands: the other standby leads, with the secondaries' votes.
	leader.kill()
	next := fc.leader(leader)
	if next == wiped {
		t.Fatalf("the wiped node %s leads", wiped.name)
	}
	if r := appendMsg(t, next, "after", 3); r.Status != http.StatusCreated || r.ID != 6 {
		t.Fatalf("append at w=3 to the new leader: %+v", r)
	}
	if err := poll.For(10*time.Second, func() error { return sameLog(wiped, mustLogOf(t, next)) }); err != nil {
		t.Fatal(err)
	}
	if r := postTo(t, wiped.url()+"/promote", ""); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Error, "learner") {
		t.Fatalf("POST /promote on the learner: %+v", r)
	}
}

// TestFailoverIdempotencyKeyRepeatGetsTheFirstID: keys travel with the
// log, with what they were given for: after a failover the new leader
// answers a repeat with the first ids, for a message and for a batch too
// long for one frame (its keyed ends reach the standbys in different
// frames, so only the digest the frames carry tells it is one batch).
func TestFailoverIdempotencyKeyRepeatGetsTheFirstID(t *testing.T) {
	fc := startFailover(t, 3, 0, "MAX_BATCH_MESSAGES=3000")
	leader := fc.leader()
	body := `{"message":"once","writeConcern":2}`
	first := post(t, leader, body, "Idempotency-Key", "k-1")
	if first.Status != http.StatusCreated {
		t.Fatalf("append: %+v", first)
	}
	msgs := make([]string, 2500)
	for i := range msgs {
		msgs[i] = fmt.Sprint("batched-", i)
	}
	b, _ := json.Marshal(map[string]any{"messages": msgs, "writeConcern": 2})
	batch := post(t, leader, string(b), "Idempotency-Key", "k-batch")
	if batch.Status != http.StatusCreated || batch.FirstID != 2 || batch.LastID != 2501 {
		t.Fatalf("batch: %+v", batch)
	}
	leader.kill()
	next := fc.leader(leader)
	// To any live master: a standby redirects to the new leader.
	for _, m := range fc.masters {
		if m == leader {
			continue
		}
		r := post(t, m, body, "Idempotency-Key", "k-1")
		if r.Status != http.StatusOK || !r.Duplicate || r.ID != first.ID {
			t.Fatalf("repeat via %s (leader %s): %+v; want 200, duplicate, id %d", m.name, next.name, r, first.ID)
		}
		r = post(t, m, string(b), "Idempotency-Key", "k-batch")
		if r.Status != http.StatusOK || !r.Duplicate || r.FirstID != 2 || r.LastID != 2501 {
			t.Fatalf("batch repeat via %s (leader %s): %+v; want 200, duplicate, ids 2-2501", m.name, next.name, r)
		}
	}
	if log := mustLogOf(t, next); len(log) != 2501 {
		t.Fatalf("the repeats appended: %d messages", len(log))
	}
}

func TestFailoverPartitionedLeaderAcknowledgesNothingAtAMajorityThenFollows(t *testing.T) {
	fc := startFailoverWith(t, 3, 2, true)
	old := fc.leader()
	// The standbys reach the leader through proxies (PEERS), clients at
	// its ADVERTISE_URL: the redirect names the latter.
	if loc := redirectOf(t, fc.standby(old)); loc != old.url()+"/messages" {
		t.Fatalf("a standby redirects to %q, want the leader's ADVERTISE_URL %s", loc, old.url())
	}
	for i := range 5 {
		if r := appendMsg(t, old, fmt.Sprint("before-", i), 3); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	fc.isolate(old)
	// A client keeps writing to the cut-off leader, at w=1 and w=3.
	stop := make(chan struct{})
	var cutOne, cutMajority, rest writer
	wg1 := cutOne.run(t, &failoverCluster{t: t, masters: []*node{old}, size: fc.size}, "cut-one", 1, stop)
	wg2 := cutMajority.run(t, &failoverCluster{t: t, masters: []*node{old}, size: fc.size}, "cut-majority", 3, stop)
	next := fc.leader(old)
	if next == old {
		t.Fatal("the cut-off leader is still named leader by the others")
	}
	others := &failoverCluster{t: t, masters: fc.without(old), secondaries: fc.secondaries, size: fc.size}
	wg3 := rest.run(t, others, "rest", 3, stop)
	// The cut-off leader steps down by itself.
	if err := poll.For(20*time.Second, func() error {
		var h struct{ Role string }
		if err := old.GetJSON("/health", &h); err != nil {
			return err
		}
		if h.Role != "standby" {
			return fmt.Errorf("%s is still %s", old.name, h.Role)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := poll.For(20*time.Second, func() error {
		if rest.count() < 10 {
			return fmt.Errorf("%d majority writes at the new leader", rest.count())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fc.heal()
	close(stop)
	wg1.Wait()
	wg2.Wait()
	wg3.Wait()
	if n := cutMajority.count(); n != 0 {
		t.Errorf("the cut-off leader acknowledged %d writes at w=3", n)
	}
	final := fc.leader()
	want := mustLogOf(t, final)
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
		if err := rest.holds(n); err != nil {
			t.Error(err)
		}
	}
	t.Logf("cut off: %d w=1 writes acknowledged by %s (rolled back: %d messages in rollback files); %d majority writes at %s",
		cutOne.count(), old.name, len(rolledBack(t, fc.dir)), rest.count(), next.name)
}

// without is the masters but n.
func (fc *failoverCluster) without(n *node) []*node {
	var ms []*node
	for _, m := range fc.masters {
		if m != n {
			ms = append(ms, m)
		}
	}
	return ms
}

// TestFailoverUpgradeFromASingleMastersDataDir: a DATA_DIR written by the
// release before failover (shared/store/testdata/v1: 12 records, keys on
// 4, 8 and 12) opens unchanged as m1's, its whole log epoch 1; the new
// standbys join it with CLUSTER_STATE=new (no election was ever held);
// whoever leads epoch 2 or later holds the whole log (a standby copies it
// from m1 or the secondary first), every node ends with it, nothing is
// rolled back, and a key of the old log is still known.
func TestFailoverUpgradeFromASingleMastersDataDir(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	specs, err := proc.PeerSpecs([]string{"m1", "m2", "m3"}, 4, dir, append(failoverEnv, "IDEMPOTENCY_WINDOW=1000000h")...)
	if err != nil {
		t.Fatal(err)
	}
	specs[0].Env = append(specs[0].Env, "CLUSTER_STATE=") // its data directory is not new
	// The single master's log, and its secondary's copy of it: an upgrade
	// starts with every secondary caught up (README "Upgrading to
	// failover"), so that any majority holds the log.
	golden, _ := filepath.Glob("../../shared/store/testdata/v1/log/*")
	if len(golden) == 0 {
		t.Fatal("no fixture")
	}
	for _, logDir := range []string{filepath.Join(dir, "m1", "log"), filepath.Join(dir, "s1", "node-1", "log")} {
		if err := os.MkdirAll(logDir, 0o750); err != nil {
			t.Fatal(err)
		}
		for _, name := range golden {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(logDir, filepath.Base(name)), b, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	fc := &failoverCluster{t: t, dir: dir, size: 4}
	for _, s := range specs {
		fc.masters = append(fc.masters, addNode(t, c, s))
	}
	fc.secondaries = append(fc.secondaries, addNode(t, c, proc.Spec{Name: "s1", Role: proc.Secondary, Detached: true,
		Env: []string{"DATA_DIR=" + filepath.Join(dir, "s1"), "FSYNC=always"}}))
	for _, n := range fc.all() {
		n.start()
	}
	leader := fc.leader() // m1, or a standby that copied m1's log before it led
	if _, e, err := proc.LeaderOf(leader.Node); err != nil || e < 2 {
		t.Fatalf("epoch %d (%v); the first election of an upgraded log is for epoch 2 or later", e, err)
	}
	want := mustLogOf(t, leader)
	if len(want) != 12 || want[11].Epoch != 0 {
		t.Fatalf("the upgraded log: %+v", want)
	}
	if msgs := rolledBack(t, dir); len(msgs) != 0 {
		t.Fatalf("the upgrade rolled back %v", msgs)
	}
	for _, n := range fc.all() {
		if err := poll.For(20*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
	}
	// The fixture's digests are a test's own, not a message's: a repeat
	// of its key is known (nothing appended) but for another digest.
	b, _ := json.Marshal(map[string]any{"message": want[11].Message, "writeConcern": 3})
	if r := post(t, fc.masters[1], string(b), "Idempotency-Key", "key-12"); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a key of the old log, via a standby: %+v; want it known (422 for the fixture's digest)", r)
	}
	if r := appendMsg(t, leader, "new", 3); r.Status != http.StatusCreated || r.ID != 13 {
		t.Fatalf("append after the upgrade: %+v", r)
	}
}

// redirectOf is where n redirects a write.
func redirectOf(t *testing.T, n *node) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.url()+"/messages", strings.NewReader(`{"message":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("%s answered a write %d, want 307", n.name, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// TestFailoverStepDownHandsOver: `master step-down` (the Helm chart's
// preStop hook) on the leader hands leadership to a standby by a
// switchover, and loses nothing.
func TestFailoverStepDownHandsOver(t *testing.T) {
	fc := startFailover(t, 3, 1)
	leader := fc.leader()
	for i := range 5 {
		if r := appendMsg(t, leader, fmt.Sprint("m-", i), 1); r.Status != http.StatusCreated {
			t.Fatalf("append: %+v", r)
		}
	}
	status, _, errOut := runMaster(t, "step-down", "HTTP_ADDR="+strings.TrimPrefix(leader.url(), "http://"), "NODE_NAME="+leader.name)
	if status != 0 {
		t.Fatalf("step-down: status %d, %s", status, errOut)
	}
	next := fc.leader()
	if next == leader {
		t.Fatalf("%s still leads after step-down: %s", leader.name, errOut)
	}
	want := mustLogOf(t, next)
	if len(want) != 5 {
		t.Fatalf("the new leader %s holds %d messages, want 5", next.name, len(want))
	}
	for _, n := range fc.all() {
		if err := poll.For(10*time.Second, func() error { return sameLog(n, want) }); err != nil {
			t.Error(err)
		}
	}
}

// TestFailoverOverMutualTLS: master-capable nodes that serve https and
// require client certificates on /replicate follow and elect each other
// over wss, verifying peers against MASTER_CA_FILE and presenting
// REPLICATION_CLIENT_CERT_FILE, as secondaries do; a write through a
// standby reaches the leader and a majority.
func TestFailoverOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "cluster")
	c := newCluster(t)
	specs, err := proc.PeerSpecs([]string{"m1", "m2", "m3"}, 4, dir, failoverEnv...)
	if err != nil {
		t.Fatal(err)
	}
	fc := &failoverCluster{t: t, dir: dir, size: 4}
	for _, s := range specs {
		leaf, client := ca.Valid(s.Name), ca.Valid(s.Name+"-client")
		for i, kv := range s.Env {
			if strings.HasPrefix(kv, "PEERS=") || strings.HasPrefix(kv, "ADVERTISE_URL=") {
				s.Env[i] = strings.ReplaceAll(kv, "http://", "https://")
			}
		}
		s.Env = append(s.Env, "TLS_CERT_FILE="+leaf.Cert, "TLS_KEY_FILE="+leaf.Key, "REPLICATION_CLIENT_CA_FILE="+ca.File,
			"MASTER_CA_FILE="+ca.File, "REPLICATION_CLIENT_CERT_FILE="+client.Cert, "REPLICATION_CLIENT_KEY_FILE="+client.Key)
		s.TLS = tlsTo(t, ca)
		fc.masters = append(fc.masters, addNode(t, c, s))
	}
	client := ca.Valid("s1-client")
	fc.secondaries = append(fc.secondaries, addNode(t, c, proc.Spec{Name: "s1", Role: proc.Secondary, Detached: true,
		Env: []string{"DATA_DIR=" + filepath.Join(dir, "s1"), "FSYNC=always", "CLUSTER_STATE=new", "MASTER_CA_FILE=" + ca.File,
			"REPLICATION_CLIENT_CERT_FILE=" + client.Cert, "REPLICATION_CLIENT_KEY_FILE=" + client.Key}}))
	for _, n := range fc.all() {
		n.start()
	}
	leader := fc.leader()
	standby := fc.standby(leader)
	req, _ := http.NewRequest(http.MethodPost, standby.url()+"/messages", strings.NewReader(`{"message":"over tls","writeConcern":3}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := standby.Client().Do(req) // follows the 307 to the leader's https ADVERTISE_URL
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	_ = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || r.ID != 1 {
		t.Fatalf("a write through %s: %d %+v", standby.name, resp.StatusCode, r)
	}
	// The dashboard a standby serves reads the leader over https too.
	var st struct{ Node string }
	if err := standby.GetJSON("/dashboard/nodes/"+leader.name+"/state", &st); err != nil || st.Node != leader.name {
		t.Errorf("the leader's dashboard state through %s: %+v, %v", standby.name, st, err)
	}
}

// newProxyAvoiding is newProxy on a port none of the nodes was given: the
// nodes' ports were picked free and let go before they start, and the
// system may hand one of them to a proxy listening meanwhile.
func newProxyAvoiding(t *testing.T, target string, taken map[string]bool) *proxy {
	for {
		p := newProxy(t, target)
		if !taken[p.Addr()] {
			return p
		}
		p.Close()
	}
}
