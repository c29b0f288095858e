// Package faults injects the failures a secondary can be told to fake, so
// that anyone can watch replog cope with slow or failing secondaries.
package faults

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replog/replog/shared/frame"
)

// Delay is a wait before an incoming append is applied (see frame.Delay).
type Delay = frame.Delay

// ParseDelay reads "0", a duration ("1s") or a range ("500ms-2s").
func ParseDelay(s string) (Delay, error) { return frame.ParseDelay(s) }

// Injector decides, per batch, how long to wait and whether to fail, and
// whether the secondary is cut off. Its faults can be changed while it
// runs (fault control). Safe for concurrent use.
type Injector struct {
	mu       sync.Mutex
	delay    Delay      // guarded by mu
	failRate float64    // guarded by mu
	cutOff   bool       // guarded by mu
	rng      *rand.Rand // guarded by mu

	delays, fails atomic.Uint64 // faults injected so far
}

// New returns an injector; seed makes its choices repeatable.
func New(delay Delay, failRate float64, seed uint64) *Injector {
	return &Injector{delay: delay, failRate: failRate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Delay is the wait before the next batch is applied.
func (in *Injector) Delay() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := in.delay.Min
	if in.delay.Max > in.delay.Min {
		d += time.Duration(in.rng.Int64N(int64(in.delay.Max-in.delay.Min) + 1))
	}
	if d > 0 {
		in.delays.Add(1)
	}
	return d
}

// Delays reports whether a replication delay is in force, so that
// frames must wait before they are applied.
func (in *Injector) Delays() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.delay.Max > 0
}

// Fail reports whether the next append frame is to be refused.
func (in *Injector) Fail() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failRate <= 0 || in.rng.Float64() >= in.failRate {
		return false
	}
	in.fails.Add(1)
	return true
}

// CutOff reports whether the secondary is to act as if cut off from the
// master: apply nothing, ack nothing, answer no heartbeat.
func (in *Injector) CutOff() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cutOff
}

// Injected counts the delays waited and the frames refused so far.
func (in *Injector) Injected() (delays, fails uint64) { return in.delays.Load(), in.fails.Load() }

// Change applies the fields f sets, all or none: values are checked with
// the rules of the environment variables first. It returns what is in
// force after it.
func (in *Injector) Change(f frame.Faults) (frame.Faults, error) {
	if err := f.Validate(); err != nil {
		return in.InForce(), err
	}
	in.mu.Lock()
	if f.ReplicationDelay != nil {
		in.delay, _ = ParseDelay(*f.ReplicationDelay) // validated above
	}
	if f.FailRate != nil {
		in.failRate = *f.FailRate
	}
	if f.CutOff != nil {
		in.cutOff = *f.CutOff
	}
	in.mu.Unlock()
	return in.InForce(), nil
}

// InForce is every fault in force, as a faults frame carries them.
func (in *Injector) InForce() frame.Faults {
	s := in.Settings()
	return frame.Faults{ReplicationDelay: &s.ReplicationDelay, FailRate: &s.FailRate, CutOff: &s.CutOff}
}

// Settings is how /health shows the injected faults.
type Settings struct {
	ReplicationDelay string  `json:"replicationDelay"`
	FailRate         float64 `json:"failRate"`
	CutOff           bool    `json:"cutOff"`
}

// Settings reports what is injected.
func (in *Injector) Settings() Settings {
	in.mu.Lock()
	defer in.mu.Unlock()
	return Settings{ReplicationDelay: in.delay.String(), FailRate: in.failRate, CutOff: in.cutOff}
}
