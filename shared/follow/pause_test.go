package follow

import (
	"testing"
	"time"
)

// TestPauseClock: a tick much later than due is an absence, seen as
// ending now until a tick, then for within after that tick; the wall
// clock counts when the monotonic one stood still (a machine asleep).
func TestPauseClock(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const period, within = 250 * time.Millisecond, time.Second
	type step struct {
		tick   time.Duration // a tick at t0+tick, or none when 0
		ask    time.Duration // then absent asked at t0+ask
		absent time.Duration
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"ticks on time: never away", []step{
			{250 * time.Millisecond, 400 * time.Millisecond, 0},
			{500 * time.Millisecond, 700 * time.Millisecond, 0},
		}},
		{"no tick for 5s: away, ending now", []step{
			{250 * time.Millisecond, 5250 * time.Millisecond, 4750 * time.Millisecond},
		}},
		{"the late tick came first: the absence it saw", []step{
			{250 * time.Millisecond, 250 * time.Millisecond, 0},
			{5 * time.Second, 5010 * time.Millisecond, 4500 * time.Millisecond},
		}},
		{"an absence that ended long ago explains nothing now", []step{
			{5 * time.Second, 5 * time.Second, 4750 * time.Millisecond},
			{5250 * time.Millisecond, 5500 * time.Millisecond, 4750 * time.Millisecond},
			{5500 * time.Millisecond, 5700 * time.Millisecond, 4750 * time.Millisecond},
			{5750 * time.Millisecond, 5900 * time.Millisecond, 4750 * time.Millisecond},
			{6000 * time.Millisecond, 6100 * time.Millisecond, 0}, // ended 1.1s ago
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := newPauseClock(period, t0)
			for i, s := range c.steps {
				if s.tick != 0 {
					clock.tick(at(s.tick))
				}
				if got := clock.absent(at(s.ask), within); got != s.absent {
					t.Fatalf("step %d: absent %s, want %s", i, got, s.absent)
				}
			}
		})
	}
	t.Run("the machine slept: only the wall clock moved", func(t *testing.T) {
		clock := newPauseClock(period, t0)
		// Monotonic readings 250ms apart, wall readings an hour apart.
		woke := t0.Add(period).Round(0).Add(time.Hour)
		clock.last = t0
		if got := clock.late(woke); got < 59*time.Minute {
			t.Fatalf("late %s after an hour asleep", got)
		}
	})
}

// TestJudgeSilence: the silence window ran out; the master is blamed only
// if this process was not away for about a heartbeat interval or more.
func TestJudgeSilence(t *testing.T) {
	const reconnectAfter = 10 * time.Second
	for _, c := range []struct {
		absent, heartbeat time.Duration
		want              silenceVerdict
	}{
		{0, time.Second, masterSilent},
		{900 * time.Millisecond, time.Second, masterSilent},
		{time.Second, time.Second, pausedCarryOn},
		{4 * time.Second, time.Second, pausedCarryOn},
		{9999 * time.Millisecond, time.Second, pausedCarryOn},
		{10 * time.Second, time.Second, pausedReconnect},
		{time.Hour, time.Second, pausedReconnect},
		// Scheduling noise is no absence, however short the heartbeat.
		{50 * time.Millisecond, 10 * time.Millisecond, masterSilent},
		{150 * time.Millisecond, 10 * time.Millisecond, pausedCarryOn},
	} {
		if got := judgeSilence(c.absent, c.heartbeat, reconnectAfter); got != c.want {
			t.Errorf("absent %s, heartbeat %s: %d, want %d", c.absent, c.heartbeat, got, c.want)
		}
	}
}
