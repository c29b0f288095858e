package clustertest

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

// TestFailoverNodesFollowANewLeaderAtOnce: the nodes that hold links to a
// standby (every leaderless node does, for its prepares) learn that it
// leads as soon as it does: it closes those links with "now leading" and
// they redial it. Heartbeats are 2s here, so a link left open instead
// would keep them leaderless until 4 heartbeats of silence (6-8s after
// the promotion, against the 4s the test allows), and
// with FAILOVER=auto another standby could stand meanwhile and take the
// leadership away (a second election, as the demo saw).
func TestFailoverNodesFollowANewLeaderAtOnce(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	specs, err := proc.PeerSpecs([]string{"m1", "m2", "m3"}, 4, dir, "HEARTBEAT_INTERVAL=2s", "FAILOVER_TIMEOUT=10s", "FAILOVER=manual")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*node
	for _, s := range specs {
		nodes = append(nodes, addNode(t, c, s))
	}
	nodes = append(nodes, addNode(t, c, proc.Spec{Name: "s1", Role: proc.Secondary, Detached: true,
		Env: []string{"DATA_DIR=" + filepath.Join(dir, "s1"), "FSYNC=always", "CLUSTER_STATE=new"}}))
	var wg sync.WaitGroup
	for _, n := range nodes {
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
	// Leaderless (FAILOVER=manual elects no one), every other node holds
	// a link to m1, as its /health says (a standby's peers, a
	// secondary's links): the links the promotion must end.
	if err := poll.For(20*time.Second, func() error {
		for _, n := range nodes[1:] {
			if err := linkedTo(n, "m1"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := postTo(t, nodes[0].url()+"/promote", ""); r.Status != http.StatusOK {
		t.Fatalf("POST /promote on m1: %+v", r)
	}
	led := time.Now()
	if err := poll.For(4*time.Second, func() error {
		for _, n := range nodes {
			if name, _, err := proc.LeaderOf(n.Node); err != nil || name != "m1" {
				return fmt.Errorf("%s names leader %q (%v)", n.name, name, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("within 2 heartbeats of m1 leading: %v", err)
	}
	t.Logf("every node followed m1 %s after it led", time.Since(led).Round(time.Millisecond))
}

// linkedTo checks that n knows no leader and holds a voting link to peer.
func linkedTo(n *node, peer string) error {
	var h struct {
		Leader *struct{ Name string }
		Peers  []struct{ Name, State string }
		Links  []struct{ Name, State string }
	}
	if err := n.GetJSON("/health", &h); err != nil {
		return err
	}
	if h.Leader != nil {
		return fmt.Errorf("%s names leader %s", n.name, h.Leader.Name)
	}
	for _, l := range append(h.Peers, h.Links...) {
		if l.Name == peer && l.State == "voting" {
			return nil
		}
	}
	return fmt.Errorf("%s: no voting link to %s: peers %+v, links %+v", n.name, peer, h.Peers, h.Links)
}
