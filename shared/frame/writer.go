package frame

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Writer sends frames on one connection, each bounded by a timeout: a peer
// that takes no frame in that time has its connection closed. It keeps one
// timer for the connection, armed only while a frame is being written,
// where a context with a deadline per frame would cost a timer, a context
// and a callback registered in the connection for every frame (6 % of a
// secondary's CPU at w=3, C=16). Safe for concurrent use: frames go out
// one at a time.
type Writer struct {
	conn    *websocket.Conn
	timeout time.Duration
	mu      sync.Mutex // one frame at a time, as the timer is the connection's
	timer   *time.Timer
	expired atomic.Bool
}

// NewWriter returns a Writer for conn. Its timer runs only during a
// write, so there is nothing to stop when the connection ends.
func NewWriter(conn *websocket.Conn, timeout time.Duration) *Writer {
	w := &Writer{conn: conn, timeout: timeout}
	w.timer = time.AfterFunc(time.Hour, func() {
		w.expired.Store(true)
		conn.CloseNow() // ends the write that waits
	})
	w.timer.Stop()
	return w
}

// Write sends b, an encoded frame, as one text message.
func (w *Writer) Write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Reset(w.timeout)
	err := w.conn.Write(context.Background(), websocket.MessageText, b)
	w.timer.Stop()
	if w.expired.Load() {
		return fmt.Errorf("the peer took no frame in %s: %w", w.timeout, context.DeadlineExceeded)
	}
	return err
}

// Send encodes f and sends it.
func (w *Writer) Send(f Frame) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	return w.Write(b)
}
