package clustertest

import (
	"bytes"
	"encoding/json"
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

// TestChaos: secondaries are killed, restarted, paused and resumed at
// random while writers append with random write concerns, timeouts,
// idempotency keys and retries. Afterwards every node holds the master's
// log, gap-free and without duplicates; every message a reply said was
// stored is there exactly once with its id; nothing refused as read-only
// is there; and a w=4 201 taken with no fault active was visible on every
// secondary at once.
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
	secs := []*node{
		startSecondary(t, "s1", m, disk()...),
		startSecondary(t, "s2", m, append(disk(), "FAIL_RATE=0.2")...),
		startSecondary(t, "s3", m, append(disk(), "REPLICATION_DELAY=0-20ms")...),
	}
	var clock faultClock
	stop := make(chan struct{})
	frng := rand.New(rand.NewPCG(rng.Uint64(), 2))
	master := (*node)(nil)
	if durable {
		master = m
	}
	faultErr := make(chan error, 1)
	go func() { faultErr <- injectFaults(t, frng, master, secs, &clock, stop) }()

	var mu sync.Mutex
	var outcomes []*outcome
	var writers sync.WaitGroup
	for w := range 4 {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
		writers.Go(func() {
			untilStopped(stop, func(i int) bool {
				o := write(t, m, secs, wrng, fmt.Sprintf("w%d-%d", w, i), &clock)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				return true
			})
		})
	}
	time.Sleep(duration) // the length of the experiment, not a wait for an event
	close(stop)
	writers.Wait()
	if err := <-faultErr; err != nil {
		t.Fatalf("fault loop: %v", err)
	}

	// Heal: every secondary running, connected and caught up.
	for _, s := range secs {
		s.signal(syscall.SIGCONT)
	}
	want, err := logOf(m)
	if err != nil {
		t.Fatal(err)
	}
	checkGapFree(t, want)
	for _, s := range secs {
		checkFor(t, 60*time.Second, func() error { return sameLog(s, want) })
	}
	at := map[string]uint64{}
	for _, e := range want {
		at[e.Message] = e.ID
	}
	var stored, refused, unknown int
	for _, o := range outcomes {
		id, in := at[o.msg]
		switch {
		case len(o.ids) > 1:
			t.Errorf("%s was given ids %v", o.msg, o.ids)
		case o.accepted && (!in || !o.ids[id]):
			t.Errorf("%s: replies gave ids %v, the log has %d (present %v)", o.msg, o.ids, id, in)
		case !o.accepted && !o.unknown && in:
			t.Errorf("%s was refused (read-only) yet is in the log at %d", o.msg, id)
		}
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

// injectFaults kills and restarts, or pauses and resumes, one or two
// random secondaries at a time until stop, then leaves every secondary
// running. Given a master (durable), it sometimes kills and restarts the
// master instead. It runs off the test's goroutine, so it returns what
// went wrong (a node that would not stop or start) instead of failing.
func injectFaults(t *testing.T, rng *rand.Rand, master *node, secs []*node, clock *faultClock, stop <-chan struct{}) error {
	pause := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for pause(time.Duration(200+rng.IntN(600)) * time.Millisecond) {
		if master != nil && rng.IntN(5) == 0 {
			down := time.Duration(100+rng.IntN(400)) * time.Millisecond
			t.Logf("fault: kill the master for %s", down)
			clock.begin()
			if err := master.tryKill(); err != nil {
				return err
			}
			pause(down)
			if err := master.tryStart(); err != nil {
				return err
			}
			clock.end()
			continue
		}
		victims := rng.Perm(len(secs))[:1+rng.IntN(2)]
		kill := make([]bool, len(victims))
		down := time.Duration(100+rng.IntN(900)) * time.Millisecond
		clock.begin()
		for i, v := range victims {
			s := secs[v]
			if kill[i] = rng.IntN(2) == 0; kill[i] {
				t.Logf("fault: kill %s for %s", s.name, down)
				if err := s.tryKill(); err != nil {
					return err
				}
			} else {
				t.Logf("fault: pause %s for %s", s.name, down)
				s.signal(syscall.SIGSTOP)
			}
		}
		pause(down)
		for i, v := range victims {
			if !kill[i] {
				secs[v].signal(syscall.SIGCONT)
			} else if err := secs[v].tryStart(); err != nil {
				return err
			}
		}
		clock.end()
	}
	return nil
}

var chaosClient = &http.Client{Timeout: 30 * time.Second}

// write appends msg with a random write concern and timeout, some with an
// idempotency key and up to three retries, and records what it learned.
func write(t *testing.T, m *node, secs []*node, rng *rand.Rand, msg string, clock *faultClock) *outcome {
	o := &outcome{msg: msg, ids: map[uint64]bool{}}
	w := 1 + rng.IntN(4)
	body, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": w, "timeoutMs": 50 + rng.IntN(500)})
	key := ""
	tries := 1
	if rng.IntN(3) == 0 {
		key, tries = "key-"+msg, 3
	}
	for range tries {
		epoch := clock.epoch.Load()
		quiet := clock.active.Load() == 0
		r, err := postRaw(m, body, key)
		if err != nil {
			o.unknown = true
			continue
		}
		switch r.Status {
		case 201, 200, 504:
			o.accepted = true
			o.ids[r.ID] = true
		case 503:
			o.refused = true
		default:
			t.Errorf("%s: unexpected reply %+v", msg, r)
		}
		if r.Status == 201 && w == 4 && quiet {
			for _, s := range secs {
				if err := holds(s, r.ID, msg); err != nil && clock.epoch.Load() == epoch {
					t.Errorf("w=4 201 with no fault active, but %v", err)
				}
			}
		}
		if r.Status == 201 || r.Status == 200 {
			break
		}
	}
	return o
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
