package follow

import (
	"errors"
	"time"

	"github.com/replog/replog/shared/frame"
)

// Faults are what the client asks before it applies, so that a node can
// fake being slow, failing or cut off (the secondary's faults.Injector).
// Safe for concurrent use: the reader, the applier goroutine and fault
// control ask and change it.
type Faults interface {
	// Delays reports whether appends must wait before they are applied.
	Delays() bool
	// Delay is the wait before the next batch is applied.
	Delay() time.Duration
	// Fail reports whether the next append frame is to be refused.
	Fail() bool
	// CutOff reports whether to apply nothing, ack nothing and answer no
	// heartbeat, as if cut off from the master.
	CutOff() bool
	// InForce is every fault in force, every field set.
	InForce() frame.Faults
	// Change applies the fields f sets, all or none, and returns what is
	// in force after it.
	Change(f frame.Faults) (frame.Faults, error)
}

// ErrNoFaults is the answer to a change of faults on a client that
// injects none.
var ErrNoFaults = errors.New("this node injects no faults")

// noFaults is the Faults of a client given none.
type noFaults struct{}

func (noFaults) Delays() bool         { return false }
func (noFaults) Delay() time.Duration { return 0 }
func (noFaults) Fail() bool           { return false }
func (noFaults) CutOff() bool         { return false }

func (noFaults) InForce() frame.Faults {
	delay, rate, cut := "0", 0.0, false
	return frame.Faults{ReplicationDelay: &delay, FailRate: &rate, CutOff: &cut}
}

func (n noFaults) Change(frame.Faults) (frame.Faults, error) { return n.InForce(), ErrNoFaults }
