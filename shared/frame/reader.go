package frame

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// Reader reads whole messages from one connection into a buffer it keeps,
// where websocket.Conn.Read allocates a new one for every message and
// grows it by copying: a catch-up frame of a few hundred kilobytes would
// be copied a dozen times. The message Read returns is valid until the
// next Read; Decode copies what it keeps. A Reader is for the
// connection's one reading goroutine.
type Reader struct {
	conn     *websocket.Conn
	buf      bytes.Buffer
	deadline *deadline
}

// NewReader returns a Reader for conn. With a timeout, a Read that gets
// no whole message in that time closes the connection and fails with an
// error wrapping context.DeadlineExceeded (a silent peer); 0 waits
// without limit.
func NewReader(conn *websocket.Conn, timeout time.Duration) *Reader {
	return NewReaderExcusing(conn, timeout, nil)
}

// NewReaderExcusing is NewReader whose timeout, when it runs out, first
// asks excused whether the silence was the reader's own doing (a process
// that was paused cannot have read what waits for it): then the Read
// goes on, for another timeout, and the connection stays open.
func NewReaderExcusing(conn *websocket.Conn, timeout time.Duration, excused func() bool) *Reader {
	return &Reader{conn: conn, deadline: newDeadline(conn, timeout, excused)}
}

// Read returns the next message.
func (r *Reader) Read() (websocket.MessageType, []byte, error) {
	r.deadline.start()
	typ, data, err := r.read()
	if r.deadline.stop() {
		return 0, nil, fmt.Errorf("nothing read in %s: %w", r.deadline.timeout, context.DeadlineExceeded)
	}
	return typ, data, err
}

func (r *Reader) read() (websocket.MessageType, []byte, error) {
	typ, msg, err := r.conn.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	r.buf.Reset()
	if _, err := r.buf.ReadFrom(msg); err != nil {
		return 0, nil, err
	}
	return typ, r.buf.Bytes(), nil
}
