// Package faults injects the failures a secondary can be told to fake, so
// that anyone can watch replog cope with slow or failing secondaries.
package faults

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Delay is a wait before an incoming append is applied: fixed when Min
// equals Max, uniform in [Min, Max] otherwise.
type Delay struct{ Min, Max time.Duration }

// ParseDelay reads "0", a duration ("1s") or a range ("500ms-2s").
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Delay{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	min, err1 := time.ParseDuration(lo)
	max, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || min < 0 || max < min {
		return Delay{}, fmt.Errorf("want 0, a duration such as 1s, or a range such as 500ms-2s; got %q", s)
	}
	return Delay{Min: min, Max: max}, nil
}

// Decode lets envconfig read a Delay from REPLICATION_DELAY.
func (d *Delay) Decode(s string) error {
	v, err := ParseDelay(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// String gives the delay back in the form ParseDelay reads.
func (d Delay) String() string {
	switch {
	case d.Max == 0:
		return "0"
	case d.Min == d.Max:
		return d.Min.String()
	}
	return d.Min.String() + "-" + d.Max.String()
}

// Injector decides, per batch, how long to wait and whether to fail.
// Safe for concurrent use.
type Injector struct {
	delay    Delay
	failRate float64

	mu  sync.Mutex
	rng *rand.Rand // guarded by mu
}

// New returns an injector; seed makes its choices repeatable.
func New(delay Delay, failRate float64, seed uint64) *Injector {
	return &Injector{delay: delay, failRate: failRate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Delay is the wait before the next batch is applied.
func (in *Injector) Delay() time.Duration {
	if in.delay.Max == 0 {
		return 0
	}
	if in.delay.Min == in.delay.Max {
		return in.delay.Min
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.delay.Min + time.Duration(in.rng.Int64N(int64(in.delay.Max-in.delay.Min)+1))
}

// Fail reports whether the next append frame is to be refused.
func (in *Injector) Fail() bool {
	if in.failRate <= 0 {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.Float64() < in.failRate
}

// Settings is how /health shows the injected faults.
type Settings struct {
	ReplicationDelay string  `json:"replicationDelay"`
	FailRate         float64 `json:"failRate"`
}

// Settings reports what is injected.
func (in *Injector) Settings() Settings {
	return Settings{ReplicationDelay: in.delay.String(), FailRate: in.failRate}
}
