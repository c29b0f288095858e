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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

var (
	chaosDuration = flag.Duration("chaos.duration", 15*time.Second,
		"how long TestChaos injects faults; the long form is e.g. -chaos.duration=10m")
	chaosSeed = flag.Uint64("chaos.seed", 0, "seed of TestChaos; 0 picks one (it is printed)")
)

// outcome is what a writer learned about one unique message.
type outcome struct {
	msg      string
	ids      map[uint64]bool // ids from 201, 200 and 504 replies
	refused  bool            // a 503 read-only was seen
	unknown  bool            // a request failed without a reply
	accepted bool            // some reply said it is stored (201, 200, 504)
}

// faultClock lets writers tell whether a fault was active around a reply.
type faultClock struct {
	active atomic.Int32
	epoch  atomic.Uint64
}

func (c *faultClock) begin() { c.active.Add(1); c.epoch.Add(1) }
func (c *faultClock) end()   { c.epoch.Add(1); c.active.Add(-1) }

// TestChaos: secondaries are killed, restarted, paused and resumed, and
// their links to the master cut, blackholed and delayed (each dials the
// master through a proxy of the test's own), at random, while writers
// append with random write concerns, timeouts, idempotency keys and
// retries, and readers read the master and every secondary. Every
// operation goes into a history, checked afterwards (see history.check):
// the master's reads and appends are linearizable, each secondary read is
// a gap-free stretch of the master's log, a w-reply taken with no process
// fault active was shown by w−1 secondaries, and nothing is lost,
// duplicated, reordered or unexpected. Every node ends holding the
// master's log.
func TestChaos(t *testing.T) { runChaos(t, *chaosDuration, false) }

// TestChaosDurable is TestChaos with every node on a durable log
// (FSYNC=always) and the master killed and restarted too: no reply that
// said "stored" may be lost across any of those crashes.
func TestChaosDurable(t *testing.T) { runChaos(t, *chaosDuration*2/3, true) }

func runChaos(t *testing.T, duration time.Duration, durable bool) {
	seed := *chaosSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("chaos seed %d (rerun with -chaos.seed=%d), duration %s", seed, seed, duration)
	rng := rand.New(rand.NewPCG(seed, 1))

	disk := func() []string { return nil }
	if durable {
		disk = func() []string { return []string{"DATA_DIR=" + t.TempDir(), "FSYNC=always"} }
	}
	m := startMaster(t, append(disk(), fast, "CLUSTER_SIZE=4")...) // quorum 3: two secondaries down is read-only
	proxies := []*proxy{newProxy(t, m.Addr), newProxy(t, m.Addr), newProxy(t, m.Addr)}
	via := func(i int, env ...string) proc.Spec {
		name := fmt.Sprintf("s%d", i+1)
		return proc.Spec{Name: name, Role: proc.Secondary, Env: append(disk(), env...), Via: proxies[i].via}
	}
	secs := []*node{
		startIn(t, m, via(0)),
		startIn(t, m, via(1, "FAIL_RATE=0.2")),
		startIn(t, m, via(2, "REPLICATION_DELAY=0-20ms")),
	}
	hist := newHistory()
	var clock faultClock
	stop := make(chan struct{})
	frng := rand.New(rand.NewPCG(rng.Uint64(), 2))
	master := (*node)(nil)
	if durable {
		master = m
	}
	type faultResult struct {
		counts map[string]int
		err    error
	}
	faultDone := make(chan faultResult, 1)
	go func() {
		counts, err := injectFaults(t, frng, master, secs, proxies, &clock, stop)
		faultDone <- faultResult{counts, err}
	}()

	var mu sync.Mutex
	var outcomes []*outcome
	var writers sync.WaitGroup
	for w := range 4 {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
		writers.Go(func() {
			untilStopped(stop, func(i int) bool {
				o := write(t, m, secs, wrng, fmt.Sprintf("w%d-%d", w, i), &clock, hist, w)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				return true
			})
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() { readMaster(m, hist, stop) })
	for _, s := range secs {
		readers.Go(func() { readSecondary(s, hist, stop) })
	}
	time.Sleep(duration) // the length of the experiment, not a wait for an event
	close(stop)
	writers.Wait()
	readers.Wait()
	faults := <-faultDone
	if faults.err != nil {
		t.Fatalf("fault loop: %v", faults.err)
	}
	t.Logf("chaos faults: %v", faults.counts)

	// Heal: every secondary running, every link whole, all caught up.
	for i, s := range secs {
		s.signal(syscall.SIGCONT)
		proxies[i].Heal()
	}
	want, err := logOf(m)
	if err != nil {
		t.Fatal(err)
	}
	checkGapFree(t, want)
	for _, s := range secs {
		poll.Check(t, 60*time.Second, func() error { return sameLog(s, want) })
	}
	hist.check(t, want, outcomes, max(2*time.Minute, duration/2))
	var stored, refused, unknown int
	for _, o := range outcomes {
		switch {
		case o.accepted:
			stored++
		case o.unknown:
			unknown++
		case o.refused:
			refused++
		}
	}
	t.Logf("chaos: %d messages, %d in the log, %d stored by reply, %d refused read-only, %d without a reply",
		len(outcomes), len(want), stored, refused, unknown)
	if stored == 0 {
		t.Fatal("no write succeeded: the experiment tested nothing")
	}
}

// injectFaults, until stop, picks a fault at random: kill and restart,
// or pause and resume, one or two secondaries; cut, blackhole or delay
// one or two secondaries' links to the master; or, given a master
// (durable), kill and restart it. It leaves every secondary running and
// returns how many faults of each kind it injected. It runs off the
// test's goroutine, so it returns what went wrong (a node that would not
// stop or start) instead of failing.
func injectFaults(t *testing.T, rng *rand.Rand, master *node, secs []*node, proxies []*proxy,
	clock *faultClock, stop <-chan struct{}) (map[string]int, error) {
	counts := map[string]int{}
	pause := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for pause(time.Duration(200+rng.IntN(600)) * time.Millisecond) {
		if master != nil && rng.IntN(6) == 0 {
			down := time.Duration(100+rng.IntN(400)) * time.Millisecond
			t.Logf("fault: kill the master for %s", down)
			counts["master kill"]++
			clock.begin()
			if err := master.tryKill(); err != nil {
				return counts, err
			}
			pause(down)
			if err := master.tryStart(); err != nil {
				return counts, err
			}
			clock.end()
			continue
		}
		victims := rng.Perm(len(secs))[:1+rng.IntN(2)]
		down := time.Duration(100+rng.IntN(900)) * time.Millisecond
		if rng.IntN(2) == 0 { // a network fault: the processes keep running
			for _, v := range victims {
				p, name := proxies[v], secs[v].name
				switch k := rng.IntN(3); k {
				case 0:
					t.Logf("fault: cut %s's link for %s", name, down)
					counts["cut"]++
					p.Cut()
				case 1:
					t.Logf("fault: blackhole %s's link for %s", name, down)
					counts["blackhole"]++
					p.Blackhole()
				default:
					up, back := time.Duration(rng.IntN(50))*time.Millisecond, time.Duration(rng.IntN(50))*time.Millisecond
					t.Logf("fault: delay %s's link %s up, %s down, for %s", name, up, back, down)
					counts["delay"]++
					p.Delay(up, back)
				}
			}
			pause(down)
			for _, v := range victims {
				proxies[v].Heal()
			}
			continue
		}
		kill := make([]bool, len(victims))
		clock.begin()
		for i, v := range victims {
			s := secs[v]
			if kill[i] = rng.IntN(2) == 0; kill[i] {
				t.Logf("fault: kill %s for %s", s.name, down)
				counts["kill"]++
				if err := s.tryKill(); err != nil {
					return counts, err
				}
			} else {
				t.Logf("fault: pause %s for %s", s.name, down)
				counts["pause"]++
				s.signal(syscall.SIGSTOP)
			}
		}
		pause(down)
		for i, v := range victims {
			if !kill[i] {
				secs[v].signal(syscall.SIGCONT)
			} else if err := secs[v].tryStart(); err != nil {
				return counts, err
			}
		}
		clock.end()
	}
	return counts, nil
}

var chaosClient = &http.Client{Timeout: 30 * time.Second}

// write appends msg with a random write concern and timeout, some with an
// idempotency key and up to three retries, records what it learned, and
// adds the append to hist (as client) with its outcome: the id a reply
// gave, or unknown.
func write(t *testing.T, m *node, secs []*node, rng *rand.Rand, msg string, clock *faultClock, hist *history, client int) *outcome {
	o := &outcome{msg: msg, ids: map[uint64]bool{}}
	w := 1 + rng.IntN(4)
	body, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": w, "timeoutMs": 50 + rng.IntN(500)})
	key := ""
	tries := 1
	if rng.IntN(3) == 0 {
		key, tries = "key-"+msg, 3
	}
	call, ret := hist.now(), neverReturned
	var id uint64
	for range tries {
		epoch := clock.epoch.Load()
		quiet := clock.active.Load() == 0
		r, err := postRaw(m, body, key)
		if errors.Is(err, syscall.ECONNREFUSED) && key == "" {
			// The master was down: the request never reached it. Not so
			// with a key: net/http retries such a request on a new
			// connection after the first one broke, maybe after the
			// master had it.
			o.refused = true
			continue
		}
		if err != nil {
			o.unknown = true
			continue
		}
		switch r.Status {
		case 201, 200, 504:
			o.accepted = true
			o.ids[r.ID] = true
			if ret == neverReturned {
				ret, id = hist.now(), r.ID
			}
		case 503:
			o.refused = true
		default:
			t.Errorf("%s: unexpected reply %+v", msg, r)
		}
		if r.Status == 201 && w >= 2 && quiet {
			shown := 0
			for _, s := range secs {
				if holds(s, r.ID, msg) == nil {
					shown++
				}
			}
			if clock.epoch.Load() == epoch { // no process fault began meanwhile
				hist.ackedWrite(ackedWrite{msg: msg, id: r.ID, w: w, shown: shown})
			}
		}
		if r.Status == 201 || r.Status == 200 {
			break
		}
	}
	switch {
	case id != 0:
		hist.add(client, appendIn{msg}, appendOut{id: id}, call, ret)
	case o.unknown:
		hist.add(client, appendIn{msg}, appendOut{unknown: true}, call, neverReturned)
	} // refused every time: it did not happen, and tally checks it is absent
	return o
}

// readMaster reads the tail of the master's log until stop, adding each
// read that got a reply to hist (failed reads change nothing).
func readMaster(m *node, hist *history, stop <-chan struct{}) {
	const limit = 50
	var last uint64
	untilStopped(stop, func(int) bool {
		from := uint64(1)
		if last > 20 {
			from = last - 20
		}
		call := hist.now()
		page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d&limit=%d", m.url(), from, limit))
		if err != nil {
			return true
		}
		hist.add(100, readIn{from: from, limit: limit}, page.Messages, call, hist.now())
		time.Sleep(5 * time.Millisecond) // the pace of reading, not a wait for an event
		if n := len(page.Messages); n > 0 {
			last = max(last, page.Messages[n-1].ID)
		}
		return true
	})
}

// readSecondary reads stretches of a secondary's log until stop, into
// hist.
func readSecondary(s *node, hist *history, stop <-chan struct{}) {
	var last uint64
	untilStopped(stop, func(i int) bool {
		from := uint64(1)
		if last > 30 {
			from = last - uint64(i%30)
		}
		page, err := getJSON[messagesReply](fmt.Sprintf("%s/messages?from=%d&limit=50", s.url(), from))
		if err != nil {
			return true // killed or paused: nothing read
		}
		hist.secondaryRead(secondaryRead{name: s.name, from: from, entries: page.Messages})
		time.Sleep(10 * time.Millisecond) // the pace of reading
		if n := len(page.Messages); n > 0 {
			last = max(last, page.Messages[n-1].ID)
		}
		return true
	})
}

func postRaw(m *node, body []byte, key string) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, m.url()+"/messages", bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := chaosClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode}
	return r, json.Unmarshal(b, &r)
}
