//go:build e2e && swarm

package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/poll"
)

// The Swarm suite runs deploy/swarm/stack.yml as an operator would, on
// the single-node swarm deploy/e2e-swarm.sh makes (or finds) and labels:
// `make e2e-swarm`. The script names the stack (E2E_SWARM_STACK) and
// sweeps up after it, also when this test is killed; the test removes
// what it made itself, also when it fails.
//
// It asks of the masters what failover promises: one leader among m1,
// m2, m3, a standby leading soon after the leader's container is killed,
// appends through any of them (a standby redirects them to the leader).
// E2E_SWARM_FAILOVER=0 is for images whose binaries do not fail over
// (they ignore PEERS): m1 is then the leader and the secondaries follow
// m1 alone.
//
// E2E_SWARM_FAIL_AT=<step> fails that step on purpose, to watch the
// cleanup work on a failure.

// masterNames are the stack's master-capable services.
var masterNames = []string{"m1", "m2", "m3"}

// Failover's timing, as deploy/swarm/stack.yml sets it.
const (
	failoverTimeout   = 6 * time.Second
	heartbeatInterval = time.Second
)

// swarmStack is one deployed stack.
type swarmStack struct {
	t        *testing.T
	name     string
	env      []string          // what docker stack deploy interpolates
	files    []string          // the stack's files, each after -c
	addrs    map[string]string // m1:8080 → 127.0.0.1:<published port>
	failover bool
	tls      *tls.Config       // with stack.tls.yml: how the nodes' APIs are verified
	client   *http.Client      // reaches m1:8080, … at their published ports, so it follows redirects
	acked    map[string]uint64 // every acknowledged message → its id
}

// swarmHealth is what the suite reads of a node's /health.
type swarmHealth struct {
	Role   string `json:"role"`
	Status string `json:"status"`
	LastID uint64 `json:"lastId"`
	Epoch  uint64 `json:"epoch"`
	Leader *struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"leader"`
	Master      string `json:"master"` // a secondary's: connected or not
	Secondaries []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"secondaries"`
}

// TestSwarmStack deploys the stack and takes it through what an operator
// does with it; each step needs the ones before.
func TestSwarmStack(t *testing.T) {
	s := deploySwarm(t, "", "")
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ready", func(t *testing.T) { s.awaitReady(t, 2) }},
		{"append-majority", func(t *testing.T) { s.appendAcked(t, "majority", 20) }},
		{"redeploy-without-new", s.redeployExisting},
		{"scale-2-to-3", s.scaleUp},
		{"kill-leader", s.killLeader},
		{"rolling-update", s.rollingUpdate},
		{"remove", func(t *testing.T) { s.remove(t) }},
	}
	failAt := os.Getenv("E2E_SWARM_FAIL_AT")
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			start := time.Now()
			step.run(t)
			if step.name == failAt {
				t.Fatalf("failing on purpose after %s (E2E_SWARM_FAIL_AT=%s)", step.name, failAt)
			}
			t.Logf("%s took %s", step.name, time.Since(start).Round(100*time.Millisecond))
		})
		if !ok {
			return
		}
	}
}

// TestSwarmTLS deploys the stack with deploy/swarm/stack.tls.yml over
// it, the certificates as secrets: an append at majority over HTTPS must
// reach every secondary over WSS with mutual TLS, and each serves it over
// HTTPS.
func TestSwarmTLS(t *testing.T) {
	certs := t.TempDir()
	cmd := exec.Command("../../deploy/certs.sh", certs)
	cmd.Env = append(os.Environ(), "MASTER_NAMES=m1 m2 m3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/certs.sh: %v\n%s", err, out)
	}
	s := deploySwarm(t, "-tls", certs)
	s.awaitReady(t, 2)
	if r, err := s.post(s.master("m1"), "over tls", 3); err != nil || r.Status != 201 || r.Acks < 3 {
		t.Fatalf("append at majority over TLS: %+v, %v", r, err)
	}
	secs, err := s.secondaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secs {
		poll.Check(t, 30*time.Second, func() error {
			var page messagesReply
			if err := sec.GetJSON("/messages", &page); err != nil {
				return err
			}
			if len(page.Messages) != 1 || page.Messages[0].Message != "over tls" {
				return fmt.Errorf("%s holds %+v", sec.name, page.Messages)
			}
			return nil
		})
	}
	s.remove(t)
}

// deploySwarm deploys the stack, named E2E_SWARM_STACK with suffix, and
// removes it when the test ends, printing every service's logs first if
// the test failed. With certs (a directory of deploy/certs.sh's files),
// stack.tls.yml goes over the stack.
func deploySwarm(t *testing.T, suffix, certs string) *swarmStack {
	requireDocker(t)
	name := os.Getenv("E2E_SWARM_STACK")
	if name == "" {
		t.Skip("E2E_SWARM_STACK is not set: run the Swarm suite with make e2e-swarm, which prepares the swarm it needs")
	}
	name += suffix
	if err := buildOnce(); err != nil {
		t.Fatal(err)
	}
	s := &swarmStack{t: t, name: name, addrs: map[string]string{}, acked: map[string]uint64{},
		failover: os.Getenv("E2E_SWARM_FAILOVER") != "0"}
	token := filepath.Join(t.TempDir(), "replication_token")
	if err := os.WriteFile(token, []byte(randomToken(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"REPLOG_TAG=e2e", "REPLOG_TOKEN_FILE=" + token, "REPLOG_CLUSTER_STATE=new",
		"REPLOG_UPDATE_MONITOR=3s"} // the rolling update's steps, each waits this long
	for _, m := range masterNames {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		s.addrs[m+":8080"] = addr
		s.env = append(s.env, "REPLOG_"+strings.ToUpper(m)+"_PORT="+port)
	}
	s.files = []string{"-c", "../../deploy/swarm/stack.yml"}
	scheme := "ws"
	if certs != "" {
		s.files = append(s.files, "-c", "../../deploy/swarm/stack.tls.yml")
		s.env = append(s.env, "REPLOG_CERTS="+certs)
		s.tls = caConfig(t, filepath.Join(certs, "ca.pem"))
		scheme = "wss"
	}
	if !s.failover {
		// Masters that do not fail over each lead a log of their own: a
		// secondary that found m1 down would follow m2 and set its copy of
		// m1's log aside. So, until they do, secondaries follow m1 alone.
		s.env = append(s.env, "REPLOG_MASTER_URL="+scheme+"://m1:8080/replicate")
	}
	var d net.Dialer
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: s.tls,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if a, ok := s.addrs[addr]; ok {
				addr = a
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(func() {
		if t.Failed() {
			s.logs()
		}
		s.remove(t)
	})
	s.deploy(t)
	t.Logf("stack %s deployed (failover steps: %v)", name, s.failover)
	return s
}

// caConfig trusts the CA in file.
func caConfig(t *testing.T, file string) *tls.Config {
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &tls.Config{RootCAs: pool}
}

// deploy runs docker stack deploy: the first time it makes the stack,
// later it updates what changed.
func (s *swarmStack) deploy(t *testing.T) {
	t.Helper()
	s.docker(t, append(append([]string{"stack", "deploy", "--resolve-image", "never"}, s.files...), s.name)...)
}

func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// docker runs docker with the stack's variables and returns its output;
// an error fails t.
func (s *swarmStack) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.tryDocker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *swarmStack) tryDocker(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// service is the stack's name for one of its services.
func (s *swarmStack) service(name string) string { return s.name + "_" + name }

// logs prints the last lines of every service's logs and its tasks.
func (s *swarmStack) logs() {
	ps, _ := s.tryDocker("stack", "ps", "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", s.name)
	s.t.Logf("--- tasks ---\n%s", ps)
	for _, svc := range append(slices.Clone(masterNames), "secondary") {
		out, _ := s.tryDocker("service", "logs", "--tail", "100", "--timestamps", s.service(svc))
		s.t.Logf("--- %s ---\n%s", svc, out)
	}
}

// remove removes the stack and everything it made: its services (so
// their containers), network and secret, and the volumes, which docker
// stack rm keeps. Then it checks that nothing is left.
func (s *swarmStack) remove(t *testing.T) {
	t.Helper()
	label := "label=com.docker.stack.namespace=" + s.name
	if out, err := s.tryDocker("stack", "rm", s.name); err != nil {
		t.Errorf("docker stack rm: %v\n%s", err, out)
	}
	err := poll.For(90*time.Second, func() error {
		left := s.leftovers(label)
		if len(left) == 0 {
			return nil
		}
		// Volumes and networks can go once the containers are gone.
		for _, kind := range []string{"volume", "network", "secret"} {
			if ids := left[kind]; len(ids) > 0 {
				_, _ = s.tryDocker(append([]string{kind, "rm"}, ids...)...)
			}
		}
		return fmt.Errorf("left of the stack: %v", left)
	})
	if err != nil {
		t.Error(err)
	}
}

// leftovers lists, by kind, what of the stack is still there.
func (s *swarmStack) leftovers(label string) map[string][]string {
	left := map[string][]string{}
	for kind, args := range map[string][]string{
		"container": {"ps", "-aq", "--filter", label},
		"service":   {"service", "ls", "-q", "--filter", label},
		"volume":    {"volume", "ls", "-q", "--filter", label},
		"network":   {"network", "ls", "-q", "--filter", label},
		"secret":    {"secret", "ls", "-q", "--filter", label},
	} {
		out, err := s.tryDocker(args...)
		if err != nil {
			left[kind] = []string{"docker " + strings.Join(args, " ") + ": " + err.Error()}
			continue
		}
		if ids := strings.Fields(out); len(ids) > 0 {
			left[kind] = ids
		}
	}
	return left
}

// master is a master-capable node, through its published port.
func (s *swarmStack) master(name string) *node {
	addr := s.addrs[name+":8080"]
	return &node{t: s.t, name: name, Node: &proc.Node{Name: name, Addr: addr, TLS: s.tls}}
}

// health reads n's /health.
func health(n *node) (swarmHealth, error) {
	var h swarmHealth
	err := n.GetJSON("/health", &h)
	return h, err
}

// secondaries are the running secondaries by slot (secondary-1, …),
// through the ports their tasks published, which change with each new
// container.
func (s *swarmStack) secondaries() ([]*node, error) {
	out, err := s.tryDocker("ps", "--filter", "label=com.docker.swarm.service.name="+s.service("secondary"),
		"--format", `{{.ID}} {{.Label "com.docker.swarm.task.name"}}`)
	if err != nil {
		return nil, fmt.Errorf("docker ps: %v: %s", err, out)
	}
	var nodes []*node
	for line := range strings.Lines(strings.TrimSpace(out)) {
		id, task, _ := strings.Cut(strings.TrimSpace(line), " ")
		parts := strings.Split(task, ".") // <stack>_secondary.<slot>.<task id>
		if len(parts) != 3 {
			return nil, fmt.Errorf("task name %q is not <service>.<slot>.<id>", task)
		}
		port, err := s.tryDocker("port", id, "8081/tcp")
		if err != nil {
			return nil, fmt.Errorf("docker port %s: %v: %s", id, err, port)
		}
		_, p, err := net.SplitHostPort(strings.Fields(port)[0])
		if err != nil {
			return nil, fmt.Errorf("docker port %s: %q", id, port)
		}
		name := "secondary-" + parts[1]
		nodes = append(nodes, &node{t: s.t, name: name, Node: &proc.Node{Name: name, Addr: "127.0.0.1:" + p, TLS: s.tls}})
	}
	slices.SortFunc(nodes, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return nodes, nil
}

// leader is the master-capable node that leads: with failover the one
// whose /health says role master, which every other names as leader;
// without, m1.
func (s *swarmStack) leader() (*node, swarmHealth, error) {
	if !s.failover {
		h, err := health(s.master("m1"))
		return s.master("m1"), h, err
	}
	var leaders []string
	seen := map[string]swarmHealth{}
	for _, m := range masterNames {
		h, err := health(s.master(m))
		if err != nil {
			continue // a node being restarted
		}
		seen[m] = h
		if h.Role == "master" {
			leaders = append(leaders, m)
		}
	}
	if len(leaders) != 1 {
		return nil, swarmHealth{}, fmt.Errorf("%d leaders %v among %v", len(leaders), leaders, seen)
	}
	for m, h := range seen {
		if m != leaders[0] && (h.Leader == nil || h.Leader.Name != leaders[0]) {
			return nil, swarmHealth{}, fmt.Errorf("%s leads, but %s's /health names leader %+v", leaders[0], m, h.Leader)
		}
	}
	return s.master(leaders[0]), seen[leaders[0]], nil
}

// awaitReady waits until every master-capable node answers, one leads,
// n secondaries run and answer, and the leader counts its followers
// healthy: without failover, secondary-1 to secondary-n; with failover,
// the standbys and the first two secondaries, the voters of the first
// deploy. A secondary made later starts with an empty volume, so it is a
// learner, which the leader streams to but does not count until it
// re-admits it (docs/FAILOVER.md, "Wiped nodes and learners"); that it
// catches up is checkAcked's to check.
func (s *swarmStack) awaitReady(t *testing.T, n int) {
	t.Helper()
	poll.Check(t, 2*time.Minute, func() error {
		for _, m := range masterNames {
			if _, err := health(s.master(m)); err != nil {
				return err
			}
		}
		l, h, err := s.leader()
		if err != nil {
			return err
		}
		healthy := map[string]bool{}
		for _, sec := range h.Secondaries {
			healthy[sec.Name] = sec.Status == "healthy"
		}
		var want []string
		for i := range n {
			if !s.failover || i < 2 {
				want = append(want, fmt.Sprintf("secondary-%d", i+1))
			}
		}
		for _, m := range masterNames {
			if s.failover && m != l.name {
				want = append(want, m)
			}
		}
		for _, name := range want {
			if !healthy[name] {
				return fmt.Errorf("%s does not count %s among its healthy followers: %+v", l.name, name, h.Secondaries)
			}
		}
		secs, err := s.secondaries()
		if err != nil {
			return err
		}
		if len(secs) != n {
			return fmt.Errorf("%d secondary containers run, want %d", len(secs), n)
		}
		for _, sec := range secs {
			if _, err := health(sec); err != nil {
				return err
			}
		}
		return nil
	})
}

// holders are the nodes that must hold the whole log: every secondary
// and, with failover, every master-capable node, else m1.
func (s *swarmStack) holders(t *testing.T) []*node {
	t.Helper()
	var nodes []*node
	poll.Check(t, time.Minute, func() (err error) {
		nodes, err = s.secondaries()
		return err
	})
	if !s.failover {
		return append(nodes, s.master("m1"))
	}
	for _, m := range masterNames {
		nodes = append(nodes, s.master(m))
	}
	return nodes
}

// post appends msg with writeConcern w through master m, following a
// standby's redirect to the leader.
func (s *swarmStack) post(m *node, msg string, w int) (reply, error) {
	b, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": w})
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	resp, err := s.client.Post(scheme+"://"+m.name+":8080/messages", "application/json", bytes.NewReader(b))
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("reply %q is not JSON: %v", body, err)
	}
	return r, nil
}

// entry is the master appends go through: with failover any of them (a
// standby redirects), else m1.
func (s *swarmStack) entry() *node {
	if !s.failover {
		return s.master("m1")
	}
	i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(masterNames))))
	return s.master(masterNames[i.Int64()])
}

// appendAcked appends n messages at majority (writeConcern 3), each of
// which must be acknowledged, then checks that every node holds them.
func (s *swarmStack) appendAcked(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		msg := fmt.Sprintf("%s-%d", prefix, i)
		r, err := s.post(s.entry(), msg, 3)
		if err != nil || r.Status != 201 || r.Acks < 3 {
			t.Fatalf("append %s at majority: %+v, %v", msg, r, err)
		}
		s.acked[msg] = r.ID
	}
	s.checkAcked(t)
}

// checkAcked waits until every node that must hold the log holds the
// leader's, gap-free, with every acknowledged message at its id.
func (s *swarmStack) checkAcked(t *testing.T) {
	t.Helper()
	var want []frame.Entry
	poll.Check(t, time.Minute, func() error {
		l, _, err := s.leader()
		if err != nil {
			return err
		}
		log, err := logOf(l)
		if err != nil {
			return err
		}
		at := map[string]uint64{}
		for _, e := range log {
			at[e.Message] = e.ID
		}
		for msg, id := range s.acked {
			if at[msg] != id {
				return fmt.Errorf("acknowledged %s (id %d) is at %d on the leader %s", msg, id, at[msg], l.name)
			}
		}
		want = log
		return nil
	})
	checkGapFree(t, want)
	for _, n := range s.holders(t) {
		poll.Check(t, time.Minute, func() error { return sameLog(n, want) })
	}
}

// scaleUp scales the secondaries from 2 to 3: the new task takes slot 3's
// name and a volume of its own, and catches up with the whole log.
func (s *swarmStack) scaleUp(t *testing.T) {
	s.docker(t, "service", "scale", "--detach", s.service("secondary")+"=3")
	s.awaitReady(t, 3)
	s.checkAcked(t)
	s.appendAcked(t, "scaled", 5)
	out := s.docker(t, "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.name)
	if !strings.Contains(out, s.service("secondary")+"-3") {
		t.Fatalf("no volume %s-3 among %s", s.service("secondary"), out)
	}
}

// container is the id of the running container of a service's one task.
func (s *swarmStack) container(t *testing.T, service string) string {
	t.Helper()
	var id string
	poll.Check(t, time.Minute, func() error {
		out, err := s.tryDocker("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.service(service))
		if err != nil {
			return fmt.Errorf("docker ps: %v: %s", err, out)
		}
		if ids := strings.Fields(out); len(ids) == 1 {
			id = ids[0]
			return nil
		}
		return fmt.Errorf("%s runs containers %q, want one", service, out)
	})
	return id
}

// killLeader kills the leader's container (SIGKILL: no shutdown), then
// checks that Swarm starts a new one on the same volume, which comes back
// with every acknowledged message. With failover, a standby must lead
// meanwhile, within FAILOVER_TIMEOUT×1.5 and ten heartbeats, at a higher
// epoch; once the nodes agree on a leader (which may by then be another,
// the restarted one too), appends at majority through any master must
// be acknowledged.
func (s *swarmStack) killLeader(t *testing.T) {
	old, h, err := s.leader()
	if err != nil {
		t.Fatal(err)
	}
	victim := s.container(t, old.name)
	s.docker(t, "kill", victim)
	killed := time.Now()
	if s.failover {
		deadline := failoverTimeout*3/2 + 10*heartbeatInterval
		poll.Check(t, deadline, func() error {
			for _, m := range masterNames {
				if m == old.name {
					continue
				}
				if mh, err := health(s.master(m)); err == nil && mh.Role == "master" && mh.Epoch > h.Epoch {
					t.Logf("standby %s led at epoch %d, %s after the kill", m, mh.Epoch, time.Since(killed).Round(100*time.Millisecond))
					return nil
				}
			}
			return fmt.Errorf("no standby leads yet (%s led at epoch %d)", old.name, h.Epoch)
		})
		s.awaitReady(t, 3)
		l, lh, _ := s.leader()
		t.Logf("%s leads at epoch %d, %s after the kill", l.name, lh.Epoch, time.Since(killed).Round(100*time.Millisecond))
		s.appendAcked(t, "failed-over", 10)
	}
	poll.Check(t, 2*time.Minute, func() error {
		id := s.container(t, old.name)
		if id == victim {
			return fmt.Errorf("%s's killed container is still its task's", old.name)
		}
		out, err := s.tryDocker("inspect", "-f", "{{.State.Health.Status}}", id)
		if strings.TrimSpace(out) != "healthy" {
			return fmt.Errorf("%s's new container %s is %q (%v)", old.name, id, strings.TrimSpace(out), err)
		}
		return nil
	})
	t.Logf("swarm restarted %s, healthy %s after the kill", old.name, time.Since(killed).Round(100*time.Millisecond))
	s.awaitReady(t, 3)
	s.checkAcked(t)
	s.appendAcked(t, "after-kill", 5)
}

// rollingUpdate replaces every task, one service at a time and within a
// service one task at a time (docker service update --force, as an
// upgrade to a new image does), appending at majority after each
// service; no acknowledged message may be lost.
func (s *swarmStack) rollingUpdate(t *testing.T) {
	for _, svc := range append(slices.Clone(masterNames), "secondary") {
		start := time.Now()
		s.docker(t, "service", "update", "--force", "--detach", s.service(svc))
		s.awaitUpdated(t, svc, start)
		t.Logf("%s updated in %s", svc, time.Since(start).Round(100*time.Millisecond))
		s.awaitReady(t, 3)
		s.appendAcked(t, "updated-"+svc, 3)
	}
}

// awaitUpdated waits until the update of service svc that started at
// since or later is done: its last new task has been healthy for
// update_config's monitor. An update that failed, and so was rolled back,
// fails t.
func (s *swarmStack) awaitUpdated(t *testing.T, svc string, since time.Time) {
	t.Helper()
	poll.Check(t, 3*time.Minute, func() error {
		out, err := s.tryDocker("service", "inspect", "-f",
			"{{if .UpdateStatus}}{{.UpdateStatus.StartedAt.Unix}} {{.UpdateStatus.State}} {{.UpdateStatus.Message}}{{end}}", s.service(svc))
		var started int64
		var state string
		fmt.Sscan(out, &started, &state)
		switch {
		case err != nil:
			return fmt.Errorf("docker service inspect: %v: %s", err, out)
		case started < since.Unix():
			return fmt.Errorf("the update of %s has not started (last: %q)", svc, out)
		case strings.HasPrefix(state, "rollback") || state == "paused":
			t.Fatalf("the update of %s failed: %s", svc, out)
		case state != "completed":
			return fmt.Errorf("the update of %s is %s", svc, out)
		}
		return nil
	})
}

// redeployExisting deploys the stack again without CLUSTER_STATE=new, as
// README says to once a new cluster runs: from then on a node that lost
// its volume rejoins as a learner instead of voting with promises it
// forgot (with failover, a secondary scaled up later would not even
// start). Every service restarts at once, and every acknowledged write
// must survive that.
func (s *swarmStack) redeployExisting(t *testing.T) {
	s.env = slices.DeleteFunc(s.env, func(kv string) bool { return strings.HasPrefix(kv, "REPLOG_CLUSTER_STATE=") })
	start := time.Now()
	s.deploy(t)
	for _, svc := range append(slices.Clone(masterNames), "secondary") {
		s.awaitUpdated(t, svc, start)
	}
	s.awaitReady(t, 2)
	s.checkAcked(t)
	s.appendAcked(t, "redeployed", 5)
}
