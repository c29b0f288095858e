package election

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrOtherCluster: a peer counts majorities over another voter set
// (another CLUSTER_SIZE or PEERS). Two such nodes could each find "a
// majority" that the other's does not meet, so their frames are refused.
var ErrOtherCluster = errors.New("peer has another voter set")

// VoterSet is what every node of a cluster must agree on to count
// majorities the same way: CLUSTER_SIZE and the master-capable PEERS.
// Changing it needs every node stopped (see docs/FAILOVER.md, A9).
type VoterSet struct {
	Size  int
	Peers []string
}

// Digest is the short form hello and welcome carry: the same for any
// order of PEERS.
func (v VoterSet) Digest() string {
	peers := slices.Clone(v.Peers)
	slices.Sort(peers)
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\n%s", v.Size, strings.Join(peers, "\n")))
	return hex.EncodeToString(sum[:8])
}

// Check refuses a peer whose hello or welcome carried another digest.
func (v VoterSet) Check(peer string) error {
	if own := v.Digest(); peer != own {
		return fmt.Errorf("voter set %s, peer's %s: %w", own, peer, ErrOtherCluster)
	}
	return nil
}
