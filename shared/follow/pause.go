package follow

import (
	"sync"
	"time"
)

// pauseClock tells this process's own absences — SIGSTOP, a machine
// asleep, a frozen VM — from a silent master. It is ticked every period;
// a tick that comes much later than due means the process did not run
// meanwhile. When the silence deadline fires just as the process comes
// back, the master's frames are waiting unread in the socket: the
// silence was this process's, not the master's.
//
// Time is passed in. Safe for concurrent use: one goroutine ticks it, the
// silence deadline's timer asks it.
type pauseClock struct {
	period time.Duration

	mu      sync.Mutex
	last    time.Time     // the last tick; guarded by mu
	away    time.Duration // how long the last absence seen lasted; guarded by mu
	awayEnd time.Time     // when it was seen to end; guarded by mu
}

func newPauseClock(period time.Duration, now time.Time) *pauseClock {
	return &pauseClock{period: period, last: now}
}

// tick records a tick at now.
func (c *pauseClock) tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if late := c.late(now); late > 0 {
		c.away, c.awayEnd = late, now
	}
	c.last = now
}

// late is how much later than due a tick at now is. The wall clock
// counts too: on Linux the monotonic clock stops while the machine
// sleeps, the wall clock does not.
func (c *pauseClock) late(now time.Time) time.Duration {
	return max(now.Sub(c.last), now.Round(0).Sub(c.last.Round(0))) - c.period
}

// absent says how long this process was away as seen at now: an absence
// that is ending now (no tick has come since) or that a tick saw end no
// longer than within ago (the tick and the question come at once when the
// process resumes, in either order). An absence that ended earlier
// explains no silence now: the frames the master sent meanwhile would have
// been read since.
func (c *pauseClock) absent(now time.Time, within time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	away := max(c.late(now), 0)
	if !c.awayEnd.IsZero() && now.Sub(c.awayEnd) <= within {
		away = max(away, c.away)
	}
	return away
}

// silenceVerdict is what the secondary does when nothing came from the
// master for the whole silence window.
type silenceVerdict int

const (
	// masterSilent: the master said nothing while this process ran; drop
	// the connection and redial.
	masterSilent silenceVerdict = iota
	// pausedCarryOn: this process was away; what the master sent meanwhile
	// waits to be read, so read on, on the same connection.
	pausedCarryOn
	// pausedReconnect: away so long that the master may have dropped this
	// secondary (a frame it could not write for its REPLICATION_WRITE_TIMEOUT);
	// redial rather than wait a silence window to find out.
	pausedReconnect
)

// judgeSilence decides from how long this process was away (absent) when
// the silence window ran out. An absence shorter than a heartbeat
// interval (and than 100ms, scheduling noise) explains no silence: the
// master had a heartbeat to send while this process ran.
func judgeSilence(absent, heartbeat, reconnectAfter time.Duration) silenceVerdict {
	switch {
	case absent < max(heartbeat, 100*time.Millisecond):
		return masterSilent
	case absent < reconnectAfter:
		return pausedCarryOn
	default:
		return pausedReconnect
	}
}
