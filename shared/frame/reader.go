package frame

import (
	"bytes"
	"context"

	"github.com/coder/websocket"
)

// Reader reads whole messages from one connection into a buffer it keeps,
// where websocket.Conn.Read allocates a new one for every message and
// grows it by copying: a catch-up frame of a few hundred kilobytes would
// be copied a dozen times. The message Read returns is valid until the
// next Read; Decode copies what it keeps.
type Reader struct {
	buf bytes.Buffer
}

// Read returns the next message of conn.
func (r *Reader) Read(ctx context.Context, conn *websocket.Conn) (websocket.MessageType, []byte, error) {
	typ, msg, err := conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	r.buf.Reset()
	if _, err := r.buf.ReadFrom(msg); err != nil {
		return 0, nil, err
	}
	return typ, r.buf.Bytes(), nil
}
