package follow

import (
	"sync"
	"time"

	"github.com/replog/replog/shared/frame"
)

// switchable is the Faults a test changes through the client: a fixed
// delay (a range waits its least) and a cut-off; it never fails a frame.
type switchable struct {
	mu     sync.Mutex
	delay  frame.Delay // guarded by mu
	cutOff bool        // guarded by mu
}

var _ Faults = (*switchable)(nil)

func (s *switchable) Delays() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.delay.Max > 0 }

func (s *switchable) Delay() time.Duration { s.mu.Lock(); defer s.mu.Unlock(); return s.delay.Min }

func (s *switchable) Fail() bool { return false }

func (s *switchable) CutOff() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.cutOff }

func (s *switchable) InForce() frame.Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	delay, rate, cut := s.delay.String(), 0.0, s.cutOff
	return frame.Faults{ReplicationDelay: &delay, FailRate: &rate, CutOff: &cut}
}

func (s *switchable) Change(f frame.Faults) (frame.Faults, error) {
	if err := f.Validate(); err != nil {
		return s.InForce(), err
	}
	s.mu.Lock()
	if f.ReplicationDelay != nil {
		s.delay, _ = frame.ParseDelay(*f.ReplicationDelay) // validated above
	}
	if f.CutOff != nil {
		s.cutOff = *f.CutOff
	}
	s.mu.Unlock()
	return s.InForce(), nil
}
