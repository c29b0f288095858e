package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/replog/replog/master/internal/netfault"
	"github.com/replog/replog/master/internal/proc"
)

// Act two's timings. A leader turns read-only once it has heard no
// follower for 2 heartbeats (they are suspected; 1 s): the window in
// which a cut-off leader still acknowledges w=1 writes that no follower
// receives. A standby that hears no leader for FAILOVER_TIMEOUT (up to
// 50 % more, at random) stands; the binary requires more than 4
// heartbeats, so a cut-off leader is read-only before a successor can
// exist.
var failoverEnv = []string{"HEARTBEAT_INTERVAL=500ms", "FAILOVER_TIMEOUT=2500ms"}

// majority is act two's majority: of CLUSTER_SIZE 4 (m1, m2, m3, s1).
const majority = 3

// failoverCluster is act two's nodes: three master-capable nodes and a
// secondary, every node reaching every master through a link of its own.
type failoverCluster struct {
	masters []*proc.Node
	s1      *proc.Node
	links   map[[2]string]*netfault.Proxy // [dialer, master] → the link between
}

func (fc *failoverCluster) all() []*proc.Node {
	return append(append([]*proc.Node{}, fc.masters...), fc.s1)
}

// without is every node but n.
func (fc *failoverCluster) without(n *proc.Node) []*proc.Node {
	var out []*proc.Node
	for _, m := range fc.all() {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// standbys is the master-capable nodes but n.
func (fc *failoverCluster) standbys(n *proc.Node) []*proc.Node {
	var out []*proc.Node
	for _, m := range fc.masters {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// links of n: every link to it and from it.
func (fc *failoverCluster) linksOf(n *proc.Node) []*netfault.Proxy {
	var out []*netfault.Proxy
	for k, l := range fc.links {
		if k[0] == n.Name || k[1] == n.Name {
			out = append(out, l)
		}
	}
	return out
}

// failover is act two, on a fresh cluster with failover: writes at w=1
// and w=majority; the leader is cut off, still acknowledges w=1 writes
// that no follower receives until it turns read-only, and is killed; a
// standby takes over (the timeline says how long writes were refused);
// the old leader comes back, moves its w=1 tail to rollback/, and
// follows.
func (d *demo) failover(ctx context.Context) error {
	d.stop() // act one's nodes
	fmt.Printf("\nAct two — failover: three master-capable nodes and a secondary\n\n")
	fc, err := d.startFailover()
	if err != nil {
		return err
	}
	fmt.Printf("watch it live on any of: m1 %s/  m2 %s/  m3 %s/\n\n", fc.masters[0].URL(), fc.masters[1].URL(), fc.masters[2].URL())
	d.step(ctx, time.Now(), "m1, m2, m3 (master-capable) and s1 started: CLUSTER_SIZE=4, majority %d, no leader yet", majority)
	if err := d.promote(ctx, fc.masters[0]); err != nil {
		return err
	}
	leader, at, err := d.awaitLeader(ctx, fc.all())
	if err != nil {
		return err
	}
	d.master = leader
	d.step(ctx, at, "   every node follows %s", d.leaderLine(leader))
	before := []string{"p1", "p2"}
	if _, err := d.expectAt(ctx, leader, "p1", "1", ""); err != nil {
		return err
	}
	standby := fc.standbys(leader)[0]
	if _, err := d.expectAt(ctx, standby, "p2", "majority", fmt.Sprintf(" via %s (a standby: 307 to %s)", standby.Name, leader.Name)); err != nil {
		return err
	}
	if err := d.snapshotOf(ctx, fc.all(), before...); err != nil {
		return err
	}
	tail, readOnly, killed, err := d.cutOff(ctx, fc, leader, before)
	if err != nil {
		return err
	}
	next, err := d.takeOver(ctx, fc, leader, readOnly, killed)
	if err != nil {
		return err
	}
	d.master = next
	return d.comeBack(ctx, fc, leader, next, tail)
}

// startFailover starts act two's nodes on 8080–8083 where free (act one's
// are gone), each with its own data directory, and every link.
func (d *demo) startFailover() (*failoverCluster, error) {
	root, err := os.MkdirTemp("", "replog-demo-")
	if err != nil {
		return nil, err
	}
	d.dataRoot = root
	names := []string{"m1", "m2", "m3"}
	specs, err := proc.PeerSpecs(names, majority+1, root, failoverEnv...)
	if err != nil {
		return nil, err
	}
	for i := range specs {
		if specs[i].Addr, err = port("", 8080+i); err != nil {
			return nil, err
		}
		specs[i].Env = append(specs[i].Env, "ADVERTISE_URL=http://"+specs[i].Addr)
	}
	fc := &failoverCluster{links: map[[2]string]*netfault.Proxy{}}
	for _, from := range append(names, "s1") {
		for i, to := range names {
			if from == to {
				continue
			}
			l, err := netfault.Listen(specs[i].Addr)
			if err != nil {
				return nil, err
			}
			d.links = append(d.links, l)
			fc.links[[2]string{from, to}] = l
		}
	}
	d.cluster = &proc.Cluster{Bin: d.bin, Env: []string{"LOG_LEVEL=warn"}}
	for i, s := range specs {
		var peers []string
		for _, to := range names {
			if to != names[i] {
				peers = append(peers, to+"=http://"+fc.links[[2]string{names[i], to}].Addr())
			}
		}
		s.Env = append(s.Env, "PEERS="+strings.Join(peers, ","))
		n, err := d.cluster.Add(s)
		if err != nil {
			return nil, err
		}
		fc.masters = append(fc.masters, n)
	}
	if fc.s1, err = d.addS1(fc, root); err != nil {
		return nil, err
	}
	return fc, startAll(fc.all())
}

func (d *demo) addS1(fc *failoverCluster, root string) (*proc.Node, error) {
	addr, err := port("", 8083)
	if err != nil {
		return nil, err
	}
	return d.cluster.Add(proc.Spec{Name: "s1", Role: proc.Secondary, Addr: addr, Detached: true,
		Env: []string{"DATA_DIR=" + filepath.Join(root, "s1"), "FSYNC=always", "CLUSTER_STATE=new"},
		Via: func(m *proc.Node) string { return fc.links[[2]string{"s1", m.Name}].Addr() }})
}

// startAll starts nodes together: a master-capable node looks for its
// peers as it starts.
func startAll(nodes []*proc.Node) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.Start() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// awaitLeader waits until every one of nodes names the same leader, and
// returns it with when they did.
func (d *demo) awaitLeader(ctx context.Context, nodes []*proc.Node) (*proc.Node, time.Time, error) {
	var leader string
	var at time.Time
	err := d.waitFor(ctx, func() error {
		leader = ""
		for _, n := range nodes {
			name, _, err := proc.LeaderOf(n)
			if err != nil {
				return err
			}
			if name == "" || (leader != "" && name != leader) {
				return fmt.Errorf("%s names leader %q, others %q", n.Name, name, leader)
			}
			leader = name
		}
		at = time.Now()
		return nil
	})
	if err != nil {
		return nil, at, fmt.Errorf("the nodes never agreed on a leader: %w", err)
	}
	for _, n := range nodes {
		if n.Name == leader {
			return n, at, nil
		}
	}
	return nil, at, fmt.Errorf("the nodes name %s, not one of theirs", leader)
}

// leaderLine is "m1 (epoch 2)".
func (d *demo) leaderLine(n *proc.Node) string {
	_, epoch, err := proc.LeaderOf(n)
	if err != nil {
		return n.Name
	}
	return fmt.Sprintf("%s (epoch %d)", n.Name, epoch)
}

// expectAt appends msg to n at w (a number or "majority") and checks it
// returns 201 with enough acks; via says how the request got there.
func (d *demo) expectAt(ctx context.Context, n *proc.Node, msg, w, via string) (reply, error) {
	r, err := d.appendTo(ctx, n, msg, w)
	if err != nil {
		return r, err
	}
	d.step(ctx, r.at, "POST %s w=%s%s → %d %s (%s)", msg, w, via, r.status, r.body, rounded(r.took))
	if r.status != http.StatusCreated || r.Acks < acksFor(w) {
		return r, fmt.Errorf("%s (w=%s) answered %d %s, want 201 with %d acks", msg, w, r.status, r.body, acksFor(w))
	}
	return r, nil
}

// acksFor is the acks write concern w needs.
func acksFor(w string) int {
	if w == "majority" {
		return majority
	}
	var n int
	fmt.Sscan(w, &n)
	return n
}

// promote asks n to lead at once rather than waiting for FAILOVER_TIMEOUT,
// in which the three would stand together and might split the votes. A
// standby that stood meanwhile may win instead: 503, and it leads.
func (d *demo) promote(ctx context.Context, n *proc.Node) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/promote", nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("promote %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.step(ctx, time.Now(), "POST /promote to %s → %d %s", n.Name, resp.StatusCode, bytes.TrimSpace(b))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("promote %s answered %d", n.Name, resp.StatusCode)
	}
	return nil
}
