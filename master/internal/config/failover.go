package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/store"
)

// Failover is the settings of a master-capable node of a cluster with
// failover (docs/FAILOVER.md). Without PEERS none of them matters: the
// master runs alone, as it always has.
type Failover struct {
	Peers        Peers         `envconfig:"PEERS" desc:"the master-capable nodes, name=baseURL comma-separated (m1=http://m1:8080,m2=http://m2:8080); this node's own entry is ignored; unset: a single master without failover"`
	AdvertiseURL string        `envconfig:"ADVERTISE_URL" desc:"with PEERS, the base URL clients and secondaries reach this node at (redirects, leader hints); default http(s)://<hostname>:<HTTP_ADDR port>"`
	Mode         string        `envconfig:"FAILOVER" default:"auto" desc:"with PEERS: auto (a standby that hears no leader for FAILOVER_TIMEOUT stands) or manual (only POST /promote makes a leader)"`
	Timeout      time.Duration `envconfig:"FAILOVER_TIMEOUT" default:"6s" desc:"with PEERS, silence after which a standby stands (each wait up to 50% longer, at random) and a leader that hears no majority steps down; more than 4 x HEARTBEAT_INTERVAL"`
	ClusterState string        `envconfig:"CLUSTER_STATE" desc:"with PEERS: new on the first start of a new cluster (an empty DATA_DIR is then a voter, not a learner); leave unset afterwards"`
}

// Peer is a master-capable node: its NODE_NAME and base URL.
type Peer struct {
	Name string
	URL  string // http(s)://host:port, no trailing slash
}

// Peers is PEERS: every master-capable node but this one, once Load has
// dropped this node's own entry.
type Peers []Peer

// Decode implements envconfig.Decoder.
func (p *Peers) Decode(v string) error {
	*p = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" || raw == "" {
			return fmt.Errorf("%q is not name=baseURL, such as m1=http://m1:8080", item)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%s: %q is not a base URL such as http://m1:8080", name, raw)
		}
		if slices.ContainsFunc(*p, func(q Peer) bool { return q.Name == name }) {
			return fmt.Errorf("%s is listed twice", name)
		}
		*p = append(*p, Peer{Name: name, URL: strings.TrimSuffix(raw, "/")})
	}
	return nil
}

// On reports whether failover is configured.
func (f Failover) On() bool { return len(f.Peers) > 0 }

// Manual reports whether only POST /promote makes a leader.
func (f Failover) Manual() bool { return f.Mode == "manual" }

// ClusterNew reports whether the cluster is being created.
func (f Failover) ClusterNew() bool { return f.ClusterState == "new" }

// VoterSet is what every node must agree on to count majorities alike.
func (c Config) VoterSet() election.VoterSet {
	names := []string{c.NodeName}
	for _, p := range c.Peers {
		names = append(names, p.Name)
	}
	return election.VoterSet{Size: c.ClusterSize, Peers: names}
}

// ReplicateURL is the /replicate WebSocket URL of a peer's base URL.
func ReplicateURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest + "/replicate"
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + "/replicate"
}

// loadFailover checks the failover settings once the others are loaded;
// its errors name the variable. PEERS loses this node's own entry here.
func (c *Config) loadFailover(nodeNameSet bool) error {
	switch c.Mode {
	case "auto", "manual":
	default:
		return fmt.Errorf("FAILOVER: must be auto or manual, got %q", c.Mode)
	}
	switch c.ClusterState {
	case "", "new", "existing":
	default:
		return fmt.Errorf("CLUSTER_STATE: must be new (first start of a new cluster) or unset, got %q", c.ClusterState)
	}
	if c.AdvertiseURL != "" {
		u, err := url.Parse(c.AdvertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("ADVERTISE_URL: %q is not a base URL such as http://m1:8080", c.AdvertiseURL)
		}
		c.AdvertiseURL = strings.TrimSuffix(c.AdvertiseURL, "/")
	}
	if len(c.Peers) == 0 {
		return nil
	}
	if !nodeNameSet {
		return fmt.Errorf("NODE_NAME: required with PEERS (each master-capable node's own name, one of PEERS' names)")
	}
	c.Peers = slices.DeleteFunc(c.Peers, func(p Peer) bool { return p.Name == c.NodeName })
	switch {
	case len(c.Peers) == 0:
		return fmt.Errorf("PEERS: names no node but this one (%s); leave PEERS unset for a single master", c.NodeName)
	case c.DataDir == "":
		return fmt.Errorf("DATA_DIR: required with PEERS: a node that forgets its promises on restart could elect two leaders")
	case c.Fsync != store.FsyncAlways:
		return fmt.Errorf("FSYNC: must be always with PEERS (got %s): an ack a power loss can take back is not a copy a majority holds", c.Fsync)
	case c.ClusterSize == 0:
		return fmt.Errorf("CLUSTER_SIZE: required with PEERS: every node that votes, master-capable nodes and secondaries")
	case c.ClusterSize < len(c.Peers)+1:
		return fmt.Errorf("CLUSTER_SIZE: %d is fewer than the %d master-capable nodes of PEERS", c.ClusterSize, len(c.Peers)+1)
	case c.Quorum != 0 && c.Quorum < election.Majority(c.ClusterSize):
		return fmt.Errorf("QUORUM: must be at least a majority of CLUSTER_SIZE with PEERS (%d of %d), got %d",
			election.Majority(c.ClusterSize), c.ClusterSize, c.Quorum)
	case c.Timeout <= time.Duration(frame.UnhealthyAfter)*c.HeartbeatInterval:
		return fmt.Errorf("FAILOVER_TIMEOUT: must be more than %d x HEARTBEAT_INTERVAL (%s), so that a cut-off leader turned read-only before a successor can exist; got %s",
			frame.UnhealthyAfter, time.Duration(frame.UnhealthyAfter)*c.HeartbeatInterval, c.Timeout)
	}
	if c.AdvertiseURL == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("ADVERTISE_URL: not set and the hostname is unknown (%v); set it", err)
		}
		_, port, _ := net.SplitHostPort(c.HTTPAddr)
		scheme := "http"
		if c.TLSFiles().Set() {
			scheme = "https"
		}
		c.AdvertiseURL = scheme + "://" + net.JoinHostPort(host, port)
	}
	return nil
}
