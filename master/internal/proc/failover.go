package proc

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// PeerSpecs are the specs of master-capable nodes named names, one
// cluster with failover (PEERS) of size nodes (secondaries included),
// each with its own data directory under dataRoot, on addresses picked
// now so that every node's PEERS can name them all. CLUSTER_STATE=new:
// the nodes start empty. env comes after what PeerSpecs derives.
func PeerSpecs(names []string, size int, dataRoot string, env ...string) ([]Spec, error) {
	addrs := make([]string, len(names))
	peers := make([]string, len(names))
	for i, name := range names {
		addr, err := FreeAddr()
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", name, err)
		}
		addrs[i], peers[i] = addr, name+"=http://"+addr
	}
	specs := make([]Spec, len(names))
	for i, name := range names {
		e := []string{"NODE_NAME=" + name, "PEERS=" + strings.Join(peers, ","), "ADVERTISE_URL=http://" + addrs[i],
			"DATA_DIR=" + filepath.Join(dataRoot, name), "CLUSTER_SIZE=" + strconv.Itoa(size), "CLUSTER_STATE=new", "FSYNC=always"}
		specs[i] = Spec{Name: name, Role: Master, Addr: addrs[i], Env: append(e, env...)}
	}
	return specs, nil
}

// LeaderOf asks n whom it takes for the leader: the name in its /health,
// "" while it knows none.
func LeaderOf(n *Node) (name string, epoch uint64, err error) {
	var h struct {
		Epoch  uint64 `json:"epoch"`
		Leader *struct {
			Name string `json:"name"`
		} `json:"leader"`
	}
	if err := n.GetJSON("/health", &h); err != nil {
		return "", 0, err
	}
	if h.Leader == nil {
		return "", h.Epoch, nil
	}
	return h.Leader.Name, h.Epoch, nil
}
