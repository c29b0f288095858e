// Command demo plays the course's iteration-3 scenario on a fresh local
// cluster, with no input, and checks that every step behaves as the
// course says: a master and S1; m1 (w=1) and m2 (w=2) return; m3 (w=3)
// waits; m4 (w=1) returns while m3 waits; S2 starts, shows [m1..m4], and
// m3 returns. Then S1 is made slow through fault control, a w=3 write
// waits about that long, and S1 is healed. It prints a timeline, exits 0
// only if all went as described, and stops its nodes.
//
//	make demo                 # what it runs: go run ./cmd/demo -bin ../bin
//	DEMO_HOLD=1 make demo     # keep the cluster up at the end (Ctrl-C stops it)
//	DEMO_STEP=2s make demo    # pause between steps, to follow on the dashboard
//	MASTER_PORT=9080 make demo
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

func main() {
	bin := flag.String("bin", "bin", "directory with the master and secondary binaries (make build)")
	flag.Parse()
	d := &demo{start: time.Now(), client: &http.Client{Timeout: 30 * time.Second},
		cluster: &proc.Cluster{Bin: *bin, Env: []string{"LOG_LEVEL=warn", "FAULTS_API=true"}}}
	if v := os.Getenv("DEMO_STEP"); v != "" {
		step, err := time.ParseDuration(v)
		if err != nil || step < 0 {
			fmt.Fprintf(os.Stderr, "demo: DEMO_STEP: want a duration such as 2s, got %q\n", v)
			os.Exit(2)
		}
		d.step = step
	}
	err := d.run()
	hold := os.Getenv("DEMO_HOLD") == "1"
	if hold && d.master != nil {
		fmt.Printf("\nDEMO_HOLD=1: the cluster stays up at %s/ — Ctrl-C stops it\n", d.master.URL())
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		<-ctx.Done()
		stop()
	}
	d.stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("\ndemo: every step behaved as the course says")
}

type demo struct {
	bin     string
	start   time.Time
	client  *http.Client
	cluster *proc.Cluster
	master  *proc.Node
	step    time.Duration // a pause after each request, for a person watching (DEMO_STEP)
}

// port is the port from env, or def if it is free, or else any free one.
func port(env string, def int) (string, error) {
	if v := os.Getenv(env); v != "" {
		return "127.0.0.1:" + v, nil
	}
	addr := "127.0.0.1:" + strconv.Itoa(def)
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		return addr, nil
	}
	return proc.FreeAddr()
}

// startNode starts a node on the port portEnv names (or defPort) and
// waits until it is ready: a secondary once it is connected.
func (d *demo) startNode(name string, role proc.Role, portEnv string, defPort int, env ...string) (*proc.Node, error) {
	addr, err := port(portEnv, defPort)
	if err != nil {
		return nil, err
	}
	return d.cluster.StartNode(proc.Spec{Name: name, Role: role, Addr: addr, Env: env})
}

func (d *demo) stop() { _ = d.cluster.Kill() }

// say prints one line of the timeline, then pauses DEMO_STEP after a
// request so that a person can follow it on the dashboard.
func (d *demo) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Printf("%7.2fs  %s\n", time.Since(d.start).Seconds(), line)
	if strings.HasPrefix(line, "POST") || strings.HasPrefix(line, "PUT") || strings.Contains(line, "started") {
		time.Sleep(d.step) // pacing for a person, not a wait for an event
	}
}

type reply struct {
	status int
	ID     uint64 `json:"id"`
	Acks   int    `json:"acks"`
	body   string
	took   time.Duration
}

func (d *demo) append(msg string, w int) (reply, error) {
	body := fmt.Sprintf(`{"message":%q,"writeConcern":%d}`, msg, w)
	start := time.Now()
	resp, err := d.client.Post(d.master.URL()+"/messages", "application/json", strings.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("append %s: %w", msg, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: strings.TrimSpace(string(b)), took: time.Since(start)}
	return r, json.Unmarshal(b, &r)
}

func (d *demo) setFaults(name, change string) error {
	req, err := http.NewRequest(http.MethodPut, d.master.URL()+"/secondaries/"+name+"/faults", strings.NewReader(change))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("fault control of %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.say("PUT /secondaries/%s/faults %s → %d %s", name, change, resp.StatusCode, bytes.TrimSpace(b))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fault control of %s answered %d", name, resp.StatusCode)
	}
	return nil
}

// shows is what a node's GET /messages holds, as [m1 m2 …].
func shows(n *proc.Node) ([]string, error) {
	var page struct {
		Messages []struct {
			Message string `json:"message"`
		} `json:"messages"`
	}
	if err := proc.GetJSON(n.URL()+"/messages", &page); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range page.Messages {
		out = append(out, m.Message)
	}
	return out, nil
}

func (d *demo) showAll() {
	var parts []string
	for _, n := range d.cluster.Nodes() {
		msgs, err := shows(n)
		if err != nil {
			parts = append(parts, n.Name+" ?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %v", n.Name, msgs))
	}
	d.say("   nodes show: %s", strings.Join(parts, "  "))
}

// waitShows waits until n shows exactly want.
func (d *demo) waitShows(n *proc.Node, want ...string) error {
	return poll.For(20*time.Second, func() error {
		got, err := shows(n)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s shows %v, want %v", n.Name, got, want)
		}
		return nil
	})
}

func (d *demo) expect(msg string, w int) (reply, error) {
	r, err := d.append(msg, w)
	if err != nil {
		return r, err
	}
	d.say("POST %s w=%d → %d %s (%s)", msg, w, r.status, r.body, r.took.Round(time.Millisecond))
	if r.status != http.StatusCreated || r.Acks < w {
		return r, fmt.Errorf("%s (w=%d) answered %d %s, want 201 with %d acks", msg, w, r.status, r.body, w)
	}
	return r, nil
}

func (d *demo) run() error {
	var err error
	if d.master, err = d.startNode("master", proc.Master, "MASTER_PORT", 8080, "CLUSTER_SIZE=3", "HEARTBEAT_INTERVAL=500ms"); err != nil {
		return err
	}
	fmt.Printf("replog demo — watch it live: %s/\n\n", d.master.URL())
	d.say("master started on %s (CLUSTER_SIZE=3, quorum 2)", d.master.Addr)
	s1, err := d.startNode("s1", proc.Secondary, "S1_PORT", 8081)
	if err != nil {
		return err
	}
	d.say("S1 started and connected")

	if _, err := d.expect("m1", 1); err != nil {
		return err
	}
	if _, err := d.expect("m2", 2); err != nil {
		return err
	}
	m3 := make(chan reply, 1)
	m3err := make(chan error, 1)
	go func() {
		r, err := d.append("m3", 3)
		m3 <- r
		m3err <- err
	}()
	d.say("POST m3 w=3 … waits: only the master and S1 can hold it")
	if err := d.waitShows(s1, "m1", "m2", "m3"); err != nil {
		return err
	}
	if _, err := d.expect("m4", 1); err != nil {
		return err
	}
	select {
	case r := <-m3:
		return fmt.Errorf("m3 (w=3) returned with one secondary: %d %s", r.status, r.body)
	default:
		d.say("   m3 is still waiting while m4 returned")
	}
	d.showAll()

	s2, err := d.startNode("s2", proc.Secondary, "S2_PORT", 8082)
	if err != nil {
		return err
	}
	d.say("S2 started: it catches up from id 1")
	if err := d.waitShows(s2, "m1", "m2", "m3", "m4"); err != nil {
		return err
	}
	d.say("   S2 shows [m1 m2 m3 m4], in the master's order")
	select {
	case r := <-m3:
		if err := <-m3err; err != nil {
			return err
		}
		d.say("POST m3 w=3 → %d %s (%s): S2's ack completed it", r.status, r.body, r.took.Round(time.Millisecond))
		if r.status != http.StatusCreated || r.Acks != 3 {
			return fmt.Errorf("m3 answered %d %s, want 201 with 3 acks", r.status, r.body)
		}
	case <-time.After(20 * time.Second):
		return errors.New("m3 (w=3) did not return once S2 held it")
	}
	d.showAll()

	const slow = 1500 * time.Millisecond
	if err := d.setFaults("s1", fmt.Sprintf(`{"replicationDelay":"%s"}`, slow)); err != nil {
		return err
	}
	r, err := d.expect("m5", 3)
	if err != nil {
		return err
	}
	if r.took < slow*3/4 {
		return fmt.Errorf("m5 (w=3) took %s with S1 slowed by %s; it should have waited for S1", r.took, slow)
	}
	d.say("   m5 waited %s for slow S1", r.took.Round(time.Millisecond))
	if err := d.setFaults("s1", `{"replicationDelay":"0"}`); err != nil {
		return err
	}
	if _, err := d.expect("m6", 3); err != nil {
		return err
	}
	want := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	for _, n := range d.cluster.Nodes() {
		if err := d.waitShows(n, want...); err != nil {
			return err
		}
	}
	d.showAll()
	return nil
}
