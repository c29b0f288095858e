package frame

import (
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// deadline closes a connection when the read or write it bounds takes
// longer than its timeout. It is one timer per connection and direction,
// armed only during the call, where a context with a deadline per call
// would cost a timer, a context and a callback registered in the
// connection for every frame (6 % of a secondary's CPU at w=3, C=16). A
// zero timeout bounds nothing.
type deadline struct {
	timeout time.Duration
	timer   *time.Timer // nil when timeout is 0
	expired atomic.Bool
}

// newDeadline returns a deadline that closes conn when its timeout runs
// out, unless excused (nil: never) says the time was not the peer's to
// answer for; then the call waits another timeout. excused runs only
// when the timer fires, never per call.
func newDeadline(conn *websocket.Conn, timeout time.Duration, excused func() bool) *deadline {
	d := &deadline{timeout: timeout}
	if timeout > 0 {
		d.timer = time.AfterFunc(time.Hour, func() {
			if excused != nil && excused() {
				// Should the call have ended meanwhile, the next start
				// re-arms the timer anyway; after the last one it fires
				// on a closed connection.
				d.timer.Reset(timeout)
				return
			}
			d.expired.Store(true)
			conn.CloseNow() // ends the call that waits
		})
		d.timer.Stop()
	}
	return d
}

// start arms the deadline for one call.
func (d *deadline) start() {
	if d.timer != nil {
		d.timer.Reset(d.timeout)
	}
}

// stop disarms it and reports whether it ran out, closing the connection:
// then the call failed because of it.
func (d *deadline) stop() bool {
	if d.timer != nil {
		d.timer.Stop()
	}
	return d.expired.Load()
}
