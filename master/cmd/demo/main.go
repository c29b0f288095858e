// Command demo plays the course's iteration-3 scenario on a fresh local
// cluster, with no input, and checks that every step behaves as the
// course says: a master and S1; m1 (w=1) and m2 (w=2) return; m3 (w=3)
// waits; m4 (w=1) returns while m3 waits; S2 starts, shows [m1..m4], and
// m3 returns. Then S1 is made slow through fault control, a w=3 write
// waits about that long, and S1 is healed. Act two (failover.go) is a
// failover on a fresh cluster of three master-capable nodes and a
// secondary: the leader, cut off, acknowledges w=1 writes no one else
// receives and is killed; a standby takes over; the old leader comes
// back, rolls that tail back and follows. It prints a timeline, each
// line stamped with when its reply arrived, exits 0 only if all went as
// described, and stops its nodes.
//
//	make demo                 # what it runs: go run ./cmd/demo -bin ../bin
//	DEMO_HOLD=1 make demo     # keep act two's cluster up at the end (Ctrl-C stops it)
//	DEMO_STEP=2s make demo    # the pause after each step (on a terminal 1s, else 0)
//	MASTER_PORT=9080 make demo
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/replog/replog/master/internal/netfault"
	"github.com/replog/replog/master/internal/proc"
)

func main() {
	bin := flag.String("bin", "bin", "directory with the master and secondary binaries (make build)")
	flag.Parse()
	tty := isTerminal(os.Stdout)
	pace, err := paceFrom(os.Getenv("DEMO_STEP"), tty)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{start: time.Now(), pace: pace, client: &http.Client{Timeout: 30 * time.Second}, bin: *bin,
		cluster: &proc.Cluster{Bin: *bin, Env: []string{"LOG_LEVEL=warn", "FAULTS_API=true"}}}
	err = d.run(ctx, paceNote(pace, tty))
	if os.Getenv("DEMO_HOLD") == "1" && d.master != nil && ctx.Err() == nil {
		fmt.Printf("\nDEMO_HOLD=1: the cluster stays up at %s/ — Ctrl-C stops it\n", d.master.URL())
		<-ctx.Done()
	}
	d.stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("\ndemo: every step behaved as the course says")
}

// termPace is the pause after each step on a terminal: a person can read
// the line and see it on the dashboard before the next one.
const termPace = time.Second

// paceFrom is the pause after each step: DEMO_STEP when set, else
// termPace on a terminal and none when piped (make demo in CI).
func paceFrom(v string, tty bool) (time.Duration, error) {
	if v == "" {
		if tty {
			return termPace, nil
		}
		return 0, nil
	}
	pace, err := time.ParseDuration(v)
	if err != nil || pace < 0 {
		return 0, fmt.Errorf("DEMO_STEP: want a duration such as 2s, got %q", v)
	}
	return pace, nil
}

// paceNote is the line under the dashboard's URL that says how to watch.
func paceNote(pace time.Duration, tty bool) string {
	switch {
	case pace > 0 && tty && os.Getenv("DEMO_STEP") == "":
		return fmt.Sprintf("a step every %s (DEMO_STEP=%s; DEMO_STEP=0 for full speed); DEMO_HOLD=1 keeps the cluster up at the end", pace, pace)
	case pace > 0:
		return fmt.Sprintf("a step every %s (DEMO_STEP); DEMO_HOLD=1 keeps the cluster up at the end", pace)
	default:
		return "full speed (DEMO_STEP=1s paces it); DEMO_HOLD=1 keeps the cluster up at the end"
	}
}

// isTerminal reports whether f is a terminal (a character device; so is
// /dev/null, which only makes a paced run that no one reads).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type demo struct {
	start   time.Time
	pace    time.Duration // the pause after each step, for a person watching (DEMO_STEP)
	client  *http.Client
	bin     string
	cluster *proc.Cluster
	master  *proc.Node // the node writes go to; the leader in act two

	links    []*netfault.Proxy // act two's, between its nodes
	dataRoot string            // act two's data directories
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

// stop kills the cluster's nodes, closes the links between them and
// removes their data directories.
func (d *demo) stop() {
	_ = d.cluster.Kill()
	for _, l := range d.links {
		l.Close()
	}
	d.links = nil
	if d.dataRoot != "" {
		_ = os.RemoveAll(d.dataRoot)
		d.dataRoot = ""
	}
}

// stamp is at as time since the demo's start, such as +1.234s.
func (d *demo) stamp(at time.Time) string {
	return fmt.Sprintf("+%.3fs", at.Sub(d.start).Seconds())
}

// line prints one line of the timeline, stamped with at: when the reply
// it reports arrived.
func (d *demo) line(at time.Time, format string, args ...any) {
	fmt.Printf("%9s  %s\n", d.stamp(at), fmt.Sprintf(format, args...))
}

// step is line, then the pause of DEMO_STEP so that a person can follow
// it on the dashboard.
func (d *demo) step(ctx context.Context, at time.Time, format string, args ...any) {
	d.line(at, format, args...)
	if d.pace == 0 {
		return
	}
	t := time.NewTimer(d.pace) // pacing for a person, not a wait for an event
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
