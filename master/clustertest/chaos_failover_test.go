package clustertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
)

var (
	chaosFailoverDuration = flag.Duration("chaos.failover", 30*time.Second,
		"how long TestChaosFailover injects faults; the long form is e.g. -chaos.failover=10m")
	chaosBreak = flag.String("chaos.break", "",
		"test only: REPLOG_TEST_BREAK for TestChaosFailover's masters (no-copy: a candidate leads without "+
			"copying from the most up-to-date promiser: the run must then fail, naming lost writes; "+
			"forget-promise: a restarted master has promised nothing, which these faults rarely turn into a loss)")
)

// TestChaosFailover: three master-capable nodes and two secondaries, all
// durable, with automatic failover, every link through a proxy of the
// test's. Faults, one after another in a shuffled round of every kind:
// the leader or a standby killed (-9) and restarted, the leader paused
// and resumed, the leader cut off from everyone while a client goes on
// writing to it, the cluster split 2/3 (the leader killed meanwhile, in
// one kind), a secondary killed, paused, or its links cut, blackholed or
// delayed. Writers send to any master-capable node (a standby redirects:
// 307), at writeConcern 1 or "majority", each message with its own
// Idempotency-Key, retried with it while the outcome is unknown; readers
// read every node. After every heal every node names one leader and
// holds its log (sameTails); at the end every node holds one log, and
// checkFailover judges the history against it, printing its counts on
// every run.
func TestChaosFailover(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	duration := *chaosFailoverDuration
	t.Logf("chaos seed %d (rerun with -chaos.seed=%d), duration %s", seed, seed, duration)
	rng := rand.New(rand.NewPCG(seed, 3))
	var env []string
	if *chaosBreak != "" {
		t.Logf("REPLOG_TEST_BREAK=%s: a deliberate bug (no-copy: this run must fail)", *chaosBreak)
		env = []string{"REPLOG_TEST_BREAK=" + *chaosBreak, "FAULTS_API=true"}
	}
	fc := startFailoverWith(t, 3, 2, true, env...)
	ch := &foChaos{t: t, fc: fc, hist: newHistory(), byAddr: map[string]string{}}
	for _, m := range fc.masters {
		ch.byAddr[strings.TrimPrefix(m.url(), "http://")] = m.name
	}
	stop := make(chan struct{})
	faults := foFaults{ch: ch, rng: rand.New(rand.NewPCG(rng.Uint64(), 4)), stop: stop, counts: map[string]int{}}
	var loop sync.WaitGroup
	ended := make(chan struct{}) // the fault loop returned: stopped, or failed
	loop.Go(func() { defer close(ended); faults.run() })
	var clients sync.WaitGroup
	for w := range 4 {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
		clients.Go(func() {
			untilStopped(stop, func(i int) bool {
				ch.write(wrng, fmt.Sprintf("w%d-%d", w, i), nil)
				return true
			})
		})
	}
	for _, n := range fc.all() {
		clients.Go(func() { ch.readNode(n, stop) })
	}
	// The length of the experiment, unless the fault loop fails first (a
	// soak then ends at once, and still checks its history).
	experiment := time.NewTimer(duration)
	select {
	case <-experiment.C:
	case <-ended:
		experiment.Stop()
	}
	close(stop)
	clients.Wait()
	loop.Wait()
	t.Logf("chaos faults: %v; %d heals, every one ending with one leader named by every node, whose log every node holds",
		faults.counts, faults.heals)
	for _, err := range faults.errs {
		t.Error(err)
	}
	ch.end()
}

// foChaos is one failover chaos run: the cluster and the history.
type foChaos struct {
	t      *testing.T
	fc     *failoverCluster
	hist   *history          // its clock
	byAddr map[string]string // a master's host:port → its name

	mu     sync.Mutex
	writes []*foWrite
	reads  []foRead
}

// foBody is an append's reply as the chaos writers read it.
type foBody struct {
	ID uint64 `json:"id"`
}

// write sends msg with its own Idempotency-Key, at writeConcern 1 or
// "majority", to a random master-capable node (to only, when given),
// and again with the same key while the outcome is unknown, for a few
// seconds; it records what it learned.
func (ch *foChaos) write(rng *rand.Rand, msg string, to *node) {
	w := &foWrite{msg: msg, majority: rng.IntN(2) == 0, call: ch.hist.now(), ret: neverReturned}
	var concern any = 1
	if w.majority {
		concern = "majority"
	}
	body, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": concern, "timeoutMs": 1000 + rng.IntN(1000)})
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		n := to
		if n == nil {
			n = ch.fc.masters[rng.IntN(len(ch.fc.masters))]
		}
		status, id, at, err := ch.post(n, body, "k-"+msg)
		switch {
		case err != nil:
			w.stores++ // it may have arrived
		case status == http.StatusCreated || status == http.StatusOK:
			w.stores++
			w.acked, w.id, w.ret = true, id, ch.hist.now()
			w.held = append(w.held, foEntry{at, id})
		case status == http.StatusGatewayTimeout || (status == http.StatusServiceUnavailable && id != 0):
			w.stores++
			w.held = append(w.held, foEntry{at, id})
		case status != http.StatusServiceUnavailable:
			ch.t.Errorf("%s: unexpected reply %d from %s", msg, status, at)
		}
		if w.acked {
			break
		}
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond) // a client's backoff
	}
	ch.mu.Lock()
	ch.writes = append(ch.writes, w)
	ch.mu.Unlock()
}

// foClient follows redirects (307, body kept), as any HTTP client would.
// It keeps no connection alive: on a reused connection that breaks,
// net/http sends a request with an Idempotency-Key again by itself, and
// an attempt the writer counts as one 503 without an id ("nothing
// appended") could then have been stored by the first send.
var foClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// post sends one attempt; at is the node that answered (after
// redirects).
func (ch *foChaos) post(n *node, body []byte, key string) (status int, id uint64, at string, err error) {
	req, err := http.NewRequest(http.MethodPost, n.url()+"/messages", bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := foClient.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, "", err
	}
	var r foBody
	_ = json.Unmarshal(b, &r) // a reply without an id is one that gave none
	return resp.StatusCode, r.ID, ch.byAddr[resp.Request.URL.Host], nil
}

// readNode reads stretches of n's log until stop.
func (ch *foChaos) readNode(n *node, stop <-chan struct{}) {
	var last uint64
	untilStopped(stop, func(i int) bool {
		from := uint64(1)
		if last > 30 {
			from = last - uint64(i%30)
		}
		call := ch.hist.now()
		page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d&limit=50", n.url(), from))
		if err == nil {
			ch.mu.Lock()
			ch.reads = append(ch.reads, foRead{node: n.name, from: from, entries: page.Messages, call: call, ret: ch.hist.now()})
			ch.mu.Unlock()
			if k := len(page.Messages); k > 0 {
				last = max(last, page.Messages[k-1].ID)
			}
		}
		time.Sleep(25 * time.Millisecond) // the pace of reading
		return true
	})
}

// end checks the run: one log on every node, then the history against
// it.
func (ch *foChaos) end() {
	t, fc := ch.t, ch.fc
	leader, err := agreedLeader(fc, 20*time.Second)
	if err != nil { // a liveness failure: the history is still checked, against whoever leads
		t.Error(err)
		if leader = selfNamedLeader(fc); leader == nil {
			t.Fatal("no master-capable node leads: no final log to check the history against")
		}
	}
	final := mustLogOf(t, leader)
	for _, n := range fc.all() {
		if err := poll.For(60*time.Second, func() error { return sameLog(n, final) }); err != nil {
			t.Error(err)
		}
	}
	rollbacks := map[string][]frame.Entry{}
	for _, n := range fc.all() {
		es, err := rollbackFiles(fc.dataDir(n))
		if err != nil {
			t.Fatal(err)
		}
		rollbacks[n.name] = es
	}
	promotions := 0 // every life of every master logs "leading" as it comes to lead (failover/lead.go)
	for _, m := range fc.masters {
		promotions += strings.Count(m.logs.String(), "\tleading\t")
	}
	t.Logf("promotions: %d (the final epoch: %d)", promotions, epochOf(t, leader))
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r := checkFailover(final, ch.writes, ch.reads, rollbacks)
	t.Logf("failover checker: %d writes, %d in the final log (leader %s): %s", len(ch.writes), len(final), leader.name, &r)
	if r.failed() {
		t.Errorf("the failover checker found faults; for example:\n  %s", strings.Join(r.examples, "\n  "))
	}
	linearizable(t, final, ch.writes, ch.reads, max(2*time.Minute, *chaosFailoverDuration/2))
	if r.majorityAcked == 0 || r.w1Acked == 0 {
		t.Fatal("no write was acknowledged at a majority, or none at w=1: the experiment tested nothing")
	}
}

// epochOf is the epoch n's /health says, 0 if it cannot tell.
func epochOf(t *testing.T, n *node) uint64 {
	_, e, err := proc.LeaderOf(n.Node)
	if err != nil {
		t.Log(err)
	}
	return e
}

// selfNamedLeader is a master that names itself leader, or nil.
func selfNamedLeader(fc *failoverCluster) *node {
	for _, m := range fc.masters {
		if name, _, err := proc.LeaderOf(m.Node); err == nil && name == m.name {
			return m
		}
	}
	return nil
}

// foFaults injects faults into a failover chaos run until stop. It runs
// off the test's goroutine: what goes wrong goes into errs.
type foFaults struct {
	ch     *foChaos
	rng    *rand.Rand
	stop   <-chan struct{}
	counts map[string]int
	heals  int
	errs   []error
}

// foFaultKinds are the faults of a round, each once, shuffled.
var foFaultKinds = []string{"leader kill", "standby kill", "leader pause", "leader cut off",
	"split 2/3", "split 2/3, leader killed", "secondary process", "secondary link"}

func (f *foFaults) run() {
	for {
		for _, i := range f.rng.Perm(len(foFaultKinds)) {
			if !f.pause(time.Duration(200+f.rng.IntN(400)) * time.Millisecond) {
				return
			}
			kind := foFaultKinds[i]
			leader, err := agreedLeader(f.ch.fc, 30*time.Second)
			if err != nil {
				f.errs = append(f.errs, fmt.Errorf("before %s: %w", kind, err))
				return
			}
			f.counts[kind]++
			if err := f.inject(kind, leader); err != nil {
				f.errs = append(f.errs, fmt.Errorf("%s: %w", kind, err))
				return
			}
			f.ch.fc.heal()
			healed := time.Now()
			next, err := agreedLeader(f.ch.fc, 30*time.Second)
			if err != nil {
				f.errs = append(f.errs, fmt.Errorf("after %s healed: %w", kind, err))
				return
			}
			if err := sameTails(f.ch.fc, next, 30*time.Second); err != nil {
				f.errs = append(f.errs, fmt.Errorf("after %s healed: %w", kind, err))
				return
			}
			f.heals++
			f.ch.t.Logf("healed: every node names %s and holds its log after %s", next.name, time.Since(healed).Round(time.Millisecond))
		}
	}
}

// pause waits d, or until stop: false then.
func (f *foFaults) pause(d time.Duration) bool {
	select {
	case <-f.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// span is a fault's length: from lo for up to lo+spread.
func (f *foFaults) span(lo, spread time.Duration) time.Duration {
	return lo + time.Duration(f.rng.Int64N(int64(spread)))
}

func (f *foFaults) inject(kind string, leader *node) error {
	fc, t := f.ch.fc, f.ch.t
	switch kind {
	case "leader kill":
		return f.down(leader, f.span(300*time.Millisecond, 2*time.Second))
	case "standby kill":
		return f.down(fc.standby(leader), f.span(300*time.Millisecond, 1500*time.Millisecond))
	case "leader pause":
		d := f.span(300*time.Millisecond, 2500*time.Millisecond) // beyond FAILOVER_TIMEOUT about half the time
		t.Logf("fault: pause the leader %s for %s", leader.name, d)
		leader.signal(syscall.SIGSTOP)
		f.pause(d)
		leader.signal(syscall.SIGCONT)
	case "leader cut off":
		d := f.span(1500*time.Millisecond, 2*time.Second)
		t.Logf("fault: cut the leader %s off from every node for %s, a client writing to it", leader.name, d)
		fc.isolate(leader)
		stop := make(chan struct{})
		var client sync.WaitGroup
		crng, round := rand.New(rand.NewPCG(f.rng.Uint64(), 5)), f.counts[kind]
		client.Go(func() {
			untilStopped(stop, func(i int) bool {
				f.ch.write(crng, fmt.Sprintf("cut-%d-%d", round, i), leader)
				return true
			})
		})
		f.pause(d)
		fc.heal()
		close(stop)
		client.Wait()
	case "split 2/3", "split 2/3, leader killed":
		return f.split(leader, kind != "split 2/3")
	case "secondary process":
		s := fc.secondaries[f.rng.IntN(len(fc.secondaries))]
		d := f.span(200*time.Millisecond, time.Second)
		if f.rng.IntN(2) == 0 {
			return f.down(s, d)
		}
		t.Logf("fault: pause %s for %s", s.name, d)
		s.signal(syscall.SIGSTOP)
		f.pause(d)
		s.signal(syscall.SIGCONT)
	case "secondary link":
		s := fc.secondaries[f.rng.IntN(len(fc.secondaries))]
		d := f.span(200*time.Millisecond, time.Second)
		how := f.rng.IntN(3)
		t.Logf("fault: %s %s's links for %s", []string{"cut", "blackhole", "delay"}[how], s.name, d)
		for k, p := range fc.links {
			if k[0] == s.name {
				[]func(){p.Cut, p.Blackhole, func() { p.Delay(time.Duration(f.rng.IntN(50))*time.Millisecond, 20*time.Millisecond) }}[how]()
			}
		}
		f.pause(d)
	}
	return nil
}

// down kills n (-9) and restarts it after d.
func (f *foFaults) down(n *node, d time.Duration) error {
	f.ch.t.Logf("fault: kill %s for %s", n.name, d)
	if err := n.tryKill(); err != nil {
		return err
	}
	f.pause(d)
	return n.tryStart()
}

// split cuts the cluster into two nodes and three, at random, for a
// while. With kill, the two are a standby and a secondary, and the
// three the leader, the other standby and a secondary: both masters of
// the three are killed meanwhile, and restarted a moment after the heal.
// The standby that was cut off, behind, then wins the next election (a
// majority: it and the secondaries), and must first copy what the three
// acknowledged from the secondary among them.
func (f *foFaults) split(leader *node, kill bool) error {
	fc := f.ch.fc
	all := fc.all()
	f.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var killed []*node
	if kill {
		standbys := fc.without(leader)
		f.rng.Shuffle(len(standbys), func(i, j int) { standbys[i], standbys[j] = standbys[j], standbys[i] })
		secs := slices.Clone(fc.secondaries)
		f.rng.Shuffle(len(secs), func(i, j int) { secs[i], secs[j] = secs[j], secs[i] })
		all = []*node{standbys[0], secs[0], leader, standbys[1], secs[1]}
		killed = []*node{leader, standbys[1]}
	}
	side := map[string]int{}
	var names [2][]string
	for i, n := range all {
		side[n.name] = min(i/2, 1) // two on side 0, three on side 1
		names[side[n.name]] = append(names[side[n.name]], n.name)
	}
	d := f.span(1500*time.Millisecond, 2*time.Second)
	f.ch.t.Logf("fault: split %v | %v for %s (leader %s), killing meanwhile %v", names[0], names[1], d, leader.name, namesOf(killed))
	for k, p := range fc.links {
		if side[k[0]] != side[k[1]] {
			p.Cut()
		}
	}
	if !kill {
		f.pause(d)
		return nil
	}
	f.pause(d / 2)
	for _, n := range killed {
		if err := n.tryKill(); err != nil {
			return err
		}
	}
	f.pause(d / 2)
	fc.heal()
	f.pause(f.span(500*time.Millisecond, 1500*time.Millisecond))
	for _, n := range killed {
		if err := n.tryStart(); err != nil {
			return err
		}
	}
	return nil
}

// sameTails waits until every node holds the leader's log as it was
// when called, and nothing else: writers go on, so a node's tail (from
// 500 ids before the leader's last) must reach the leader's last id of
// then and be a prefix of the leader's tail, read after it.
func sameTails(fc *failoverCluster, leader *node, d time.Duration) error {
	var h struct {
		LastID uint64 `json:"lastId"`
	}
	if err := leader.GetJSON("/health", &h); err != nil {
		return err
	}
	from := uint64(1)
	if h.LastID > 500 {
		from = h.LastID - 500
	}
	tail := func(n *node) ([]frame.Entry, error) {
		page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d&limit=10000", n.url(), from))
		return page.Messages, err
	}
	return poll.For(d, func() error {
		tails := map[*node][]frame.Entry{}
		for _, n := range fc.all() {
			t, err := tail(n)
			if err != nil {
				return err
			}
			tails[n] = t
		}
		lead, err := tail(leader)
		if err != nil {
			return err
		}
		for n, t := range tails {
			if k := len(t); h.LastID > 0 && (k == 0 || t[k-1].ID < h.LastID) {
				return fmt.Errorf("%s does not hold %s's log through id %d yet", n.name, leader.name, h.LastID)
			}
			if len(t) > len(lead) || !slices.EqualFunc(t, lead[:len(t)], sameEntry) {
				return fmt.Errorf("%s's log from id %d is not a prefix of %s's", n.name, from, leader.name)
			}
		}
		return nil
	})
}

// namesOf is the nodes' names, for the log.
func namesOf(ns []*node) []string {
	var names []string
	for _, n := range ns {
		names = append(names, n.name)
	}
	return names
}

// agreedLeader waits until every node but except names the same leader,
// a master, and returns it; fc.leader is it on the test's goroutine.
func agreedLeader(fc *failoverCluster, d time.Duration, except ...*node) (*node, error) {
	var leader *node
	err := poll.For(d, func() error {
		name := ""
		for _, n := range fc.all() {
			if contains(except, n) {
				continue
			}
			got, _, err := proc.LeaderOf(n.Node)
			if err != nil {
				return err
			}
			if got == "" || (name != "" && got != name) {
				return fmt.Errorf("%s names leader %q, others %q", n.name, got, name)
			}
			name = got
		}
		for _, m := range fc.masters {
			if m.name == name {
				leader = m
				return nil
			}
		}
		return errors.New("the leader named is no master: " + name)
	})
	return leader, err
}
