package election

import (
	"errors"
	"fmt"
)

// ErrUnknownDataDir: a data directory in a state no write order of
// either release can leave; the node refuses to guess (an operator hint
// names the files).
var ErrUnknownDataDir = errors.New("data directory in an unknown state")

// DataDir is what a node of a PEERS cluster finds in its data directory
// when it starts.
type DataDir struct {
	Promise *Promise // promise.json's promise; nil when there is no promise.json
	Learner bool     // promise.json says learner: true
	Meta    bool     // meta.json exists
	Records bool     // the log holds a record
	Epochs  bool     // epochs.json exists
}

// Opened decides what the node is from what it found: its promise, and
// whether it is a learner. The write order makes every state
// unambiguous: in a PEERS cluster promise.json is a node's first write
// (a wiped node's is {learner: true}, before meta.json and any record),
// so a data directory with a log and no promise.json can only be an
// older release's, whose whole log is epoch 1; an empty one is a wiped
// node, unless the cluster is being created (clusterNew). Without that
// order, a learner that crashed after its first record and before
// promise.json would come back a voter promised {1, ""}.
func Opened(d DataDir, clusterNew bool) (Promise, bool, error) {
	switch {
	case d.Promise != nil:
		return *d.Promise, d.Learner, nil
	case !d.Meta && !d.Records && !d.Epochs:
		return Promise{}, !clusterNew, nil
	case d.Meta && !d.Epochs:
		return Promise{Epoch: 1}, false, nil // an upgrade: the one master's epoch
	}
	return Promise{}, false, fmt.Errorf("open: meta.json %v, records %v, epochs.json %v, no promise.json: %w",
		d.Meta, d.Records, d.Epochs, ErrUnknownDataDir)
}
