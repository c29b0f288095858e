package frame

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Writer sends frames on one connection, each bounded by a timeout: a peer
// that takes no frame in that time has its connection closed (see
// deadline). Safe for concurrent use: frames go out one at a time.
type Writer struct {
	conn     *websocket.Conn
	mu       sync.Mutex // one frame at a time, as the deadline is the connection's
	deadline *deadline
}

// NewWriter returns a Writer for conn. Its timer runs only during a
// write, so there is nothing to stop when the connection ends.
func NewWriter(conn *websocket.Conn, timeout time.Duration) *Writer {
	return &Writer{conn: conn, deadline: newDeadline(conn, timeout, nil)}
}

// Write sends b, an encoded frame, as one text message.
func (w *Writer) Write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline.start()
	err := w.conn.Write(context.Background(), websocket.MessageText, b)
	if w.deadline.stop() {
		return fmt.Errorf("the peer took no frame in %s: %w", w.deadline.timeout, context.DeadlineExceeded)
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

// SendFor encodes f for a peer that speaks version v (see EncodeFor) and
// sends it: the one call a session needs once it knows its peer's
// version.
func (w *Writer) SendFor(f Frame, v int) error {
	b, err := EncodeFor(f, v)
	if err != nil {
		return err
	}
	return w.Write(b)
}
