package ballot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ErrClusterExists: CLUSTER_STATE=new on a node whose data directory is
// empty while a peer already holds the cluster's log. Either the volume
// was lost and CLUSTER_STATE=new was left on (the node would come back a
// voter that forgot its promises: docs/FAILOVER.md, A9), or it joins a
// cluster that is already running.
type ErrClusterExists struct {
	Peer          string
	Epoch, LastID uint64
}

func (e *ErrClusterExists) Error() string {
	return fmt.Sprintf("CLUSTER_STATE: new, but %s is in a cluster that has elected leaders (epoch %d, last id %d): a node with an empty DATA_DIR "+
		"would vote with promises it forgot; unset CLUSTER_STATE to rejoin as a learner", e.Peer, e.Epoch, e.LastID)
}

// CheckNew asks every peer's /health (base URLs, in parallel, each for at
// most wait) whether the cluster has held an election: an epoch of 2 or
// more (a cluster with failover stands for epoch 2 first; epoch 1 is a
// single master's, whose log a new standby may join when the cluster is
// upgraded to failover, no promise having been given yet). It returns an
// *ErrClusterExists naming a peer that has; unreachable peers are taken
// for nodes starting too (a new cluster starts them together).
func CheckNew(ctx context.Context, client *http.Client, bases []string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var (
		mu    sync.Mutex
		found *ErrClusterExists
		wg    sync.WaitGroup
	)
	for _, base := range bases {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var h struct {
				Epoch  uint64 `json:"epoch"`
				LastID uint64 `json:"lastId"`
			}
			if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil {
				return
			}
			if h.Epoch >= 2 {
				mu.Lock()
				found = &ErrClusterExists{Peer: base, Epoch: h.Epoch, LastID: h.LastID}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if found != nil {
		return found
	}
	return nil
}

// Empty reports whether a data directory holds nothing a node wrote: no
// promise, no log.
func Empty(dataDir string) (bool, error) {
	d, err := inspect(dataDir)
	if err != nil {
		return false, err
	}
	return d.Promise == nil && !d.Meta && !d.Records && !d.Epochs, nil
}
