//go:build e2e

package clustertest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

// The end-to-end suite runs replog as docker compose runs it: images built
// from deploy/Dockerfile, containers on a private network, faults made
// with docker itself (kill, network disconnect, restart). Run it with
// `make e2e`; it skips, saying why, where no Docker engine answers.

// stack is one compose project: its own containers, network and volumes.
type stack struct {
	t       *testing.T
	project string
	env     []string
	master  *node // only url() and name are used
}

// composeCmd is "docker compose" where the v2 plugin exists, else the
// standalone docker-compose.
var composeCmd = sync.OnceValue(func() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	return []string{"docker-compose"}
})

// requireDocker skips where no Docker engine answers, except under CI
// (CI=true), whose machines always have one: there a skipped suite would
// read as green, so it fails.
func requireDocker(t *testing.T) {
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine answers (docker info: %v); CI needs one for the end-to-end suite", err)
		}
		t.Skipf("no Docker engine answers (docker info: %v); skipping the end-to-end suite", err)
	}
}

var buildOnce = sync.OnceValue(func() error {
	out, err := composeRun(nil, "replog-e2e-build", "build")
	if err != nil {
		return fmt.Errorf("compose build: %v\n%s", err, out)
	}
	return nil
})

func composeRun(env []string, project string, args ...string) (string, error) {
	c := composeCmd()
	cmd := exec.Command(c[0], append(append(c[1:], "-p", project), args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(append(os.Environ(), "REPLOG_TAG=e2e"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// newStack brings up a stack with the given number of secondaries and
// always tears it down, printing every container's logs on failure.
func newStack(t *testing.T, secondaries int, env ...string) *stack {
	return newStackTLS(t, secondaries, nil, env...)
}

// newStackTLS is newStack with the master's API reached over TLS with
// tlsCfg (nil: plain HTTP).
func newStackTLS(t *testing.T, secondaries int, tlsCfg *tls.Config, env ...string) *stack {
	requireDocker(t)
	if err := buildOnce(); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	s := &stack{
		t:       t,
		project: projectName("replog-e2e"),
		env:     append([]string{"REPLOG_MASTER_PORT=" + port}, env...),
	}
	s.master = &node{t: t, name: "master", Node: &proc.Node{Name: "master", Addr: "127.0.0.1:" + port, TLS: tlsCfg}}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := composeRun(s.env, s.project, "logs", "--no-color")
			t.Logf("--- logs of every container ---\n%s", logs)
		}
		if out, err := composeRun(s.env, s.project, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	s.scale(secondaries)
	return s
}

func (s *stack) compose(args ...string) string {
	s.t.Helper()
	out, err := composeRun(s.env, s.project, args...)
	if err != nil {
		s.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// scale runs the stack with n secondaries and waits until the master sees
// them all healthy.
func (s *stack) scale(n int) {
	s.t.Helper()
	s.compose("up", "-d", "--no-build", "--scale", fmt.Sprintf("secondary=%d", n))
	poll.Check(s.t, 90*time.Second, func() error {
		var h masterHealth
		if err := s.master.GetJSON("/health", &h); err != nil {
			return err
		}
		healthy := 0
		for _, sec := range h.Secondaries {
			if sec.Status == "healthy" {
				healthy++
			}
		}
		if healthy < n {
			return fmt.Errorf("%d of %d secondaries healthy: %+v", healthy, n, h.Secondaries)
		}
		return nil
	})
}

// containers lists the secondaries' container ids, oldest replica first.
func (s *stack) containers() []string {
	s.t.Helper()
	ids := strings.Fields(s.compose("ps", "-q", "secondary"))
	out, err := exec.Command("docker", append([]string{"inspect", "-f", "{{.Created}} {{.Id}}"}, ids...)...).Output()
	if err != nil {
		s.t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	slices.Sort(lines)
	for i, l := range lines {
		lines[i] = l[strings.LastIndex(l, " ")+1:]
	}
	return lines
}

// secondary returns a node for a secondary container, through its
// published port (which changes when a container restarts).
func (s *stack) secondary(id string) *node {
	s.t.Helper()
	var addr string
	poll.Check(s.t, 30*time.Second, func() error {
		out, err := exec.Command("docker", "port", id, "8081/tcp").Output()
		if err != nil {
			return fmt.Errorf("docker port %s: %v", id, err)
		}
		for _, l := range strings.Fields(string(out)) {
			if strings.HasPrefix(l, "0.0.0.0:") {
				_, port, _ := net.SplitHostPort(l)
				addr = "127.0.0.1:" + port
				return nil
			}
		}
		return fmt.Errorf("no published port in %q", out)
	})
	name := s.nameOf(id)
	return &node{t: s.t, name: name, Node: &proc.Node{Name: name, Addr: addr}}
}

// nameOf is a container's name, which a secondary without NODE_NAME takes
// as its own (replog-e2e-…_secondary_1), as docker ps shows it.
func (s *stack) nameOf(id string) string {
	s.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.Name}}", id).Output()
	if err != nil {
		s.t.Fatalf("docker inspect %s: %v", id, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "/")
}

func (s *stack) docker(args ...string) {
	s.t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// converge waits until every secondary holds exactly the master's log.
func (s *stack) converge() []string {
	s.t.Helper()
	want, err := logOf(s.master)
	if err != nil {
		s.t.Fatal(err)
	}
	checkGapFree(s.t, want)
	ids := s.containers()
	for _, id := range ids {
		sec := s.secondary(id)
		poll.Check(s.t, 60*time.Second, func() error { return sameLog(sec, want) })
	}
	return ids
}

func TestE2EAcceptance(t *testing.T) {
	s := newStack(t, 1)
	m := s.master
	if r := appendMsg(t, m, "m1", 1); r.Status != 201 {
		t.Fatalf("m1: %+v", r)
	}
	if r := appendMsg(t, m, "m2", 2); r.Status != 201 {
		t.Fatalf("m2: %+v", r)
	}
	m3 := make(chan reply, 1)
	go func() { m3 <- appendMsg(t, m, "m3", 3) }()
	if r := appendMsg(t, m, "m4", 1); r.Status != 201 {
		t.Fatalf("m4: %+v", r)
	}
	first := s.containers()[0]
	s1 := s.secondary(first)
	poll.Check(t, 30*time.Second, func() error { // the one secondary holds m3 too
		if got, err := logOf(s1); err != nil || len(got) != 4 {
			return fmt.Errorf("the secondary holds %v (%v), want m1..m4", got, err)
		}
		return nil
	})
	stillWaiting(t, m3, "m3 (w=3) with one secondary holding it")
	s.scale(2)
	var second string
	for _, id := range s.containers() {
		if id != first {
			second = id
		}
	}
	sec := s.secondary(second)
	poll.Check(t, 30*time.Second, func() error {
		got, err := logOf(sec)
		if err != nil {
			return err
		}
		if len(got) != 4 {
			return fmt.Errorf("second secondary holds %v", got)
		}
		return nil
	})
	awaitReply(t, m3, 30*time.Second, 3)
	s.converge()
	// Scaled replicas are named as docker ps names them, not by their ids.
	h := mustGet[masterHealth](t, m.url()+"/health")
	var names []string
	for _, sec := range h.Secondaries {
		names = append(names, sec.Name)
	}
	slices.Sort(names)
	want := []string{s.nameOf(first), s.nameOf(second)}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("the master lists secondaries %v, want the containers' names %v", names, want)
	}
}

func TestE2ENodeLoss(t *testing.T) {
	s := newStack(t, 2)
	stop := make(chan struct{})
	wg := stream(t, s.master, "loss", stop)
	victim := s.containers()[0]
	s.docker("kill", victim)
	poll.Check(t, 30*time.Second, func() error {
		h, err := getJSON[masterHealth](s.master.url() + "/health")
		if err != nil {
			return err
		}
		for _, sec := range h.Secondaries {
			if sec.Name == s.nameOf(victim) && sec.Status == "unhealthy" {
				return nil
			}
		}
		return fmt.Errorf("the killed secondary is not unhealthy: %+v", h.Secondaries)
	})
	s.docker("start", victim)
	close(stop)
	wg.Wait()
	s.converge()
}

func TestE2EPartition(t *testing.T) {
	s := newStack(t, 2)
	network := s.project + "_cluster"
	if !strings.Contains(s.networkNames(), network) {
		network = s.project + "-cluster" // compose v2 may join with a dash
	}
	victim := s.containers()[0]
	stop := make(chan struct{})
	wg := stream(t, s.master, "part", stop)
	s.docker("network", "disconnect", network, victim)
	waitStatus(t, s.master, s.nameOf(victim), "unhealthy")
	close(stop)
	wg.Wait()
	waiting := make(chan reply, 1)
	go func() { waiting <- appendMsg(t, s.master, "during-partition-w3", 3) }()
	select {
	case r := <-waiting:
		t.Fatalf("w=3 returned during the partition: %+v", r)
	case <-time.After(time.Second): // no reply in a second is all this checks
	}
	s.docker("network", "connect", network, victim)
	awaitReply(t, waiting, 60*time.Second, 3)
	s.converge()
}

func (s *stack) networkNames() string {
	out, _ := exec.Command("docker", "network", "ls", "--format", "{{.Name}}").Output()
	return string(out)
}

func TestE2EScale(t *testing.T) {
	s := newStack(t, 4, "REPLOG_CLUSTER_SIZE=5")
	for i := range 20 {
		if r := appendMsg(t, s.master, fmt.Sprintf("scaled-%d", i), 5); r.Status != 201 || r.Acks != 5 {
			t.Fatalf("w=5 with four secondaries: %+v", r)
		}
	}
	if ids := s.converge(); len(ids) != 4 {
		t.Fatalf("%d secondaries", len(ids))
	}
}

func TestE2ERestartSecondaries(t *testing.T) {
	s := newStack(t, 2)
	for i := range 50 {
		appendMsg(t, s.master, fmt.Sprintf("before-%d", i), 3)
	}
	s.compose("restart", "-t", "5", "secondary")
	for i := range 50 {
		if r := appendMsg(t, s.master, fmt.Sprintf("after-%d", i), 1); r.Status != 201 {
			t.Fatalf("append while secondaries restart: %+v", r)
		}
	}
	s.scale(2)
	s.converge()
}

// appendAcked appends n messages with w=3 and returns them as acknowledged.
func appendAcked(t *testing.T, m *node, prefix string, n int) map[string]uint64 {
	acked := map[string]uint64{}
	for i := range n {
		msg := fmt.Sprintf("%s-%d", prefix, i)
		if r := appendMsg(t, m, msg, 3); r.Status == 201 {
			acked[msg] = r.ID
		} else {
			t.Fatalf("append %s: %+v", msg, r)
		}
	}
	return acked
}

// checkAcked checks that every acknowledged message is in the master's
// log with its id, then that the secondaries converge.
func (s *stack) checkAcked(acked map[string]uint64) {
	s.t.Helper()
	poll.Check(s.t, 60*time.Second, func() error {
		log, err := logOf(s.master)
		if err != nil {
			return err
		}
		at := map[string]uint64{}
		for _, e := range log {
			at[e.Message] = e.ID
		}
		for msg, id := range acked {
			if at[msg] != id {
				return fmt.Errorf("acknowledged %s (id %d) is at %d", msg, id, at[msg])
			}
		}
		return nil
	})
	s.converge()
}

func TestE2EWholeStackRestart(t *testing.T) {
	s := newStack(t, 2)
	acked := appendAcked(t, s.master, "before-restart", 100)
	s.compose("restart", "-t", "10")
	s.scale(2)
	s.checkAcked(acked)
	if r := appendMsg(t, s.master, "after-restart", 3); r.Status != 201 || r.ID != 101 {
		t.Fatalf("append after the restart: %+v", r)
	}
}

func TestE2EDownUpKeepsVolumes(t *testing.T) {
	s := newStack(t, 2)
	acked := appendAcked(t, s.master, "before-down", 100)
	s.compose("down", "-t", "10") // keeps the named volumes
	s.scale(2)
	s.checkAcked(acked)
	if r := appendMsg(t, s.master, "after-up", 3); r.Status != 201 || r.ID != 101 {
		t.Fatalf("append after down/up: %+v", r)
	}
}

// TestE2ETLS runs the stack as README's TLS override does: certificates
// from deploy/certs.sh, HTTPS on every API, WSS with mutual TLS on
// replication.
func TestE2ETLS(t *testing.T) {
	requireDocker(t)
	if out, err := exec.Command("../../deploy/certs.sh").CombinedOutput(); err != nil {
		t.Fatalf("deploy/certs.sh: %v\n%s", err, out)
	}
	pem, err := os.ReadFile("../../deploy/certs/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool}
	s := newStackTLS(t, 2, cfg, "COMPOSE_FILE=docker-compose.yml:deploy/docker-compose.tls.yml")
	resp, err := s.master.Client().Post(s.master.URL()+"/messages", "application/json",
		strings.NewReader(`{"message":"over tls","writeConcern":3}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("w=3 over TLS: %s", resp.Status)
	}
	for _, id := range s.containers() {
		sec := s.secondary(id)
		sec.TLS = cfg
		var page messagesReply
		if err := sec.GetJSON("/messages", &page); err != nil {
			t.Fatalf("a secondary over TLS: %v", err)
		}
		if len(page.Messages) != 1 || page.Messages[0].Message != "over tls" {
			t.Fatalf("a secondary holds %+v", page.Messages)
		}
	}
}

// projectName is a compose project's name for one scenario: prefix, the
// run (REPLOG_E2E_RUN, which deploy/e2e.sh sets so that it can remove
// what an interrupted run left; else this process's id), a number.
func projectName(prefix string) string {
	run := os.Getenv("REPLOG_E2E_RUN")
	if run == "" {
		run = fmt.Sprint(os.Getpid())
	}
	return fmt.Sprintf("%s-%s-%d", prefix, run, time.Now().UnixNano()%1e6)
}

// freeAddr is a loopback host:port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
