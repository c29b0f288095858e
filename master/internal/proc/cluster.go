package proc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Role is what a node of a cluster is.
type Role int

const (
	// Master is a node that takes appends and serves /replicate.
	Master Role = iota
	// Secondary is a node that dials the cluster's masters.
	Secondary
)

func (r Role) String() string {
	if r == Master {
		return "master"
	}
	return "secondary"
}

// Spec describes one node of a Cluster. Only Name is required.
type Spec struct {
	Name string
	Role Role
	// Bin is the binary's path; "" is the cluster's binary for the role.
	Bin string
	// Addr is the host:port of the node's API; "" picks a free loopback
	// port.
	Addr string
	// Env is the node's own settings. They come after the cluster's and
	// those the cluster derives (HTTP_ADDR; a secondary's NODE_NAME and
	// MASTER_URL), and a later setting wins.
	Env []string
	// Via, when set, is the host:port a secondary dials to reach master
	// instead of the master's own: a proxy in between, for network faults.
	Via func(master *Node) string
	// Detached starts a secondary without waiting until it is connected.
	Detached bool
	// Logs receives the node's output; nil is the cluster's Logs.
	Logs io.Writer
	// TLS, when set, is how the node's API is reached (and, for a
	// master, makes secondaries dial it with wss).
	TLS *tls.Config
}

// Cluster starts replog processes on loopback from Specs: masters first,
// then secondaries whose MASTER_URL names every master. The cluster tests,
// the benchmark and the demo all start their nodes here.
//
// Several master-capable nodes are several Master specs, each with its own
// NODE_NAME, DATA_DIR and peers in its Env; secondaries then list them all.
type Cluster struct {
	Bin  string    // directory holding the master and secondary binaries
	Env  []string  // settings of every node, before the node's own
	Logs io.Writer // where nodes' output goes unless a spec says; nil discards it

	nodes   []*Node // every node added, in order
	masters []*Node
}

// Start adds the nodes specs describe and starts them in order, each
// ready (a secondary connected, unless Detached) before the next starts.
// On an error some may run: Kill the cluster.
func (c *Cluster) Start(specs ...Spec) error {
	for _, s := range specs {
		if _, err := c.StartNode(s); err != nil {
			return err
		}
	}
	return nil
}

// StartNode adds the node s describes, starts it and waits until it is
// ready. On an error it may run: Kill the cluster.
func (c *Cluster) StartNode(s Spec) (*Node, error) {
	n, err := c.Add(s)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return n, fmt.Errorf("start %s: %w", n.Name, err)
	}
	return n, nil
}

// Add makes the node s describes, with its address and settings, without
// starting it: the caller starts it (again, after a kill) with its Start.
func (c *Cluster) Add(s Spec) (*Node, error) {
	if s.Role == Secondary && len(c.masters) == 0 {
		return nil, fmt.Errorf("add %s: a secondary needs a master added before it", s.Name)
	}
	addr := s.Addr
	if addr == "" {
		var err error
		if addr, err = FreeAddr(); err != nil {
			return nil, fmt.Errorf("add %s: %w", s.Name, err)
		}
	}
	n := &Node{Name: s.Name, Bin: s.Bin, Addr: addr, Logs: s.Logs, TLS: s.TLS}
	if n.Bin == "" {
		n.Bin = filepath.Join(c.Bin, s.Role.String())
	}
	if n.Logs == nil {
		n.Logs = c.Logs
	}
	if n.Logs == nil {
		n.Logs = io.Discard
	}
	n.Env = append(append([]string{"HTTP_ADDR=" + addr}, c.Env...), c.derived(s)...)
	n.Env = append(n.Env, s.Env...)
	if s.Role == Secondary && !s.Detached {
		n.Ready = func() error { return Connected(n) }
	}
	c.nodes = append(c.nodes, n)
	if s.Role == Master {
		c.masters = append(c.masters, n)
	}
	return n, nil
}

// derived is the settings the cluster gives a node from its role and the
// nodes already added: a secondary's name and every master to dial.
func (c *Cluster) derived(s Spec) []string {
	if s.Role != Secondary {
		return nil
	}
	urls := make([]string, len(c.masters))
	for i, m := range c.masters {
		addr, scheme := m.Addr, "ws"
		if s.Via != nil {
			addr = s.Via(m)
		}
		if m.TLS != nil {
			scheme = "wss"
		}
		urls[i] = scheme + "://" + addr + "/replicate"
	}
	return []string{"NODE_NAME=" + s.Name, "MASTER_URL=" + strings.Join(urls, ",")}
}

// Nodes is every node added, in order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Masters is the master nodes added, in order.
func (c *Cluster) Masters() []*Node { return c.masters }

// Kill SIGKILLs every node and waits for them to be gone.
func (c *Cluster) Kill() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Kill())
	}
	return errors.Join(errs...)
}

// Connected checks that secondary n says it is connected to its master.
func Connected(n *Node) error {
	var h struct {
		Master      string `json:"master"`
		MasterError string `json:"masterError"`
	}
	if err := getJSON(n.Client(), n.URL()+"/health", &h); err != nil {
		return err
	}
	if h.Master != "connected" {
		return fmt.Errorf("%s: master is %s (%s)", n.Name, h.Master, h.MasterError)
	}
	return nil
}
