package replication

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
)

var (
	errShuttingDown = errors.New("master shutting down")
	errReplaced     = errors.New("replaced by a newer session of the same name")
)

// protocolError is a peer breaking the protocol; the session closes with
// the reason so the peer's operator can read it.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// session streams the log to one peer.
type session struct {
	hub      *Hub
	conn     *websocket.Conn
	log      *zap.Logger
	name     string
	observer bool
	ctx      context.Context // cancelled to end the session; its cause says why
	cancel   context.CancelCauseFunc
	wake     chan struct{} // capacity 1: "look at the log again"

	mu   sync.Mutex
	flow Flow // guarded by mu
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ServeHTTP accepts a peer on /replicate and streams the log to it until
// either side goes away.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.track() {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "master shutting down"))
		return
	}
	defer h.wg.Done()
	if !h.authorized(r) {
		h.log.Warn("refused replication peer: wrong or missing token", zap.String("remote", r.RemoteAddr))
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized,
			"replication needs the master's REPLICATION_TOKEN as \"Authorization: Bearer <token>\""))
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log.Warn("replication handshake failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 10) // peers send only small frames
	hello, err := h.readHello(conn)
	if err != nil {
		h.log.Warn("refused replication peer", zap.String("remote", r.RemoteAddr), zap.Error(err))
		closeWithError(conn, err)
		return
	}
	start, err := Decide(h.store.LogID(), h.store.LastID(), hello)
	if err != nil {
		h.log.Error("refused secondary", zap.String("peer", hello.Name), zap.Error(err))
		closeWithError(conn, &protocolError{msg: err.Error()})
		return
	}
	s := h.newSession(conn, hello, start)
	h.register(s)
	defer h.unregister(s)
	if err := s.run(start, hello); err != nil {
		s.log.Info("replication session ended", zap.Uint64("ackedId", s.acked()), zap.Error(err))
	}
}

// authorized checks the bearer token in constant time. Both sides are
// hashed first so that not even the token's length leaks through timing.
func (h *Hub) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// track counts a new session handler unless the hub is closing.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) readHello(conn *websocket.Conn) (frame.Frame, error) {
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.HelloTimeout)
	defer cancel()
	_, data, err := conn.Read(ctx)
	if err != nil {
		return frame.Frame{}, fmt.Errorf("read hello: %w", err)
	}
	f, err := frame.Decode(data)
	if err != nil {
		return frame.Frame{}, &protocolError{msg: err.Error()}
	}
	if f.Type != frame.TypeHello {
		return frame.Frame{}, protocolErrorf("first frame must be hello, got %s", f.Type)
	}
	if f.Version != frame.Version {
		return frame.Frame{}, protocolErrorf("protocol version %d not supported; this master speaks %d", f.Version, frame.Version)
	}
	if f.Role == "" {
		f.Role = frame.RoleSecondary
	}
	return f, nil
}

func (h *Hub) newSession(conn *websocket.Conn, hello frame.Frame, start Start) *session {
	ctx, cancel := context.WithCancelCause(h.ctx)
	observer := hello.Role == frame.RoleObserver
	return &session{
		hub:      h,
		conn:     conn,
		log:      h.log.With(zap.String("peer", hello.Name), zap.String("role", string(hello.Role))),
		name:     hello.Name,
		observer: observer,
		ctx:      ctx,
		cancel:   cancel,
		wake:     make(chan struct{}, 1),
		flow:     NewFlow(start.From, h.opts.Window, h.opts.MaxFrames, observer),
	}
}

// run greets the peer, then reads its frames in one goroutine while this
// one sends the log, until either fails or the session is cancelled.
func (s *session) run(start Start, hello frame.Frame) error {
	h := s.hub
	if !s.observer {
		h.hold(s, start.From-1)
	}
	if start.Resync {
		s.log.Warn("secondary holds another log; it will drop it and resync from id 1",
			zap.String("peerLogId", hello.LogID), zap.Uint64("peerLastId", hello.LastID))
	}
	welcome := frame.Frame{Type: frame.TypeWelcome, Version: frame.Version, LogID: h.store.LogID(),
		LastID: h.store.LastID(), From: start.From, MaxFrameBytes: h.opts.maxFrameBytes(),
		HeartbeatMs: h.opts.HeartbeatInterval.Milliseconds()}
	if err := s.writeFrame(welcome); err != nil {
		return err
	}
	s.log.Info("replication peer connected", zap.Uint64("from", start.From), zap.Uint64("lastId", welcome.LastID))

	readErr := make(chan error, 1)
	go func() {
		err := s.readLoop()
		s.cancel(err)
		readErr <- err
	}()
	err := s.sendLoop()
	s.cancel(err)
	cause := context.Cause(s.ctx)
	s.close(cause)
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		err = cause
	}
	return err
}

// close ends the connection with a close frame that tells the peer why.
func (s *session) close(cause error) {
	switch {
	case errors.Is(cause, errShuttingDown):
		_ = s.conn.Close(websocket.StatusGoingAway, cause.Error())
	case errors.Is(cause, errReplaced):
		_ = s.conn.Close(websocket.StatusPolicyViolation, cause.Error())
	default:
		closeWithError(s.conn, cause)
	}
}

// closeWithError tells a peer what it did wrong, in an error frame and in
// the close reason; anything else is an I/O failure and just closes.
func closeWithError(conn *websocket.Conn, err error) {
	var pe *protocolError
	if !errors.As(err, &pe) {
		_ = conn.CloseNow()
		return
	}
	if b, encErr := frame.Encode(frame.Error(pe.msg)); encErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Write(ctx, websocket.MessageText, b)
		cancel()
	}
	reason := pe.msg
	if len(reason) > 120 { // a close reason must fit in a control frame
		reason = reason[:120]
	}
	_ = conn.Close(websocket.StatusPolicyViolation, reason)
}

// sendLoop streams the log to the peer and sends a heartbeat every
// interval, even while busy streaming, so a slow or paused peer shows.
func (s *session) sendLoop() error {
	h := s.hub
	var entries []frame.Entry
	var buf []byte
	beat := time.NewTicker(h.opts.HeartbeatInterval)
	defer beat.Stop()
	var seq uint64
	heartbeat := func() error {
		seq++
		return s.writeFrame(frame.Frame{Type: frame.TypeHeartbeat, ID: seq})
	}
	for {
		select {
		case <-beat.C:
			if err := heartbeat(); err != nil {
				return fmt.Errorf("send heartbeat: %w", err)
			}
		default:
		}
		s.mu.Lock()
		from, n := s.flow.Next(h.store.LastID(), h.opts.BatchEntries)
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-s.wake:
			case <-beat.C:
				if err := heartbeat(); err != nil {
					return fmt.Errorf("send heartbeat: %w", err)
				}
			case <-s.ctx.Done():
				return nil
			}
			continue
		}
		var err error
		entries, err = h.store.Read(entries[:0], from, n, h.opts.BatchBytes)
		if err != nil {
			return fmt.Errorf("read log from id %d: %w", from, err)
		}
		s.mu.Lock()
		s.flow.Sent(from, len(entries))
		s.mu.Unlock()
		buf = frame.AppendEntries(buf[:0], entries)
		if err := s.write(buf); err != nil {
			return fmt.Errorf("send ids %d-%d: %w", from, from+uint64(len(entries))-1, err)
		}
	}
}

func (s *session) readLoop() error {
	for {
		typ, data, err := s.conn.Read(context.Background()) // ends when the connection closes
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				return fmt.Errorf("peer closed: %w", err)
			}
			return fmt.Errorf("read: %w", err)
		}
		if typ != websocket.MessageText {
			return protocolErrorf("frames must be JSON text")
		}
		f, err := frame.Decode(data)
		if err != nil {
			return &protocolError{msg: err.Error()}
		}
		if !s.observer {
			s.hub.seen(s)
		}
		if err := s.handle(f); err != nil {
			return err
		}
	}
}

func (s *session) handle(f frame.Frame) error {
	switch f.Type {
	case frame.TypeAck:
		if s.observer {
			return nil
		}
		s.mu.Lock()
		advanced, ok := s.flow.Ack(f.ID)
		s.mu.Unlock()
		if !ok {
			return protocolErrorf("ack for id %d, which was never sent", f.ID)
		}
		if advanced {
			s.hub.hold(s, f.ID)
			s.poke() // the window may have room again
		}
	case frame.TypeNack:
		s.mu.Lock()
		s.flow.Nack(f.From)
		s.mu.Unlock()
		s.log.Debug("peer asked for a resend", zap.Uint64("id", f.From), zap.String("reason", f.Error))
		s.poke()
	case frame.TypeHeartbeat:
		// Its arrival was the point: the peer is alive and reading.
	case frame.TypeError:
		return fmt.Errorf("peer reported: %s", f.Error)
	default:
		return protocolErrorf("unexpected %s frame from a peer", f.Type)
	}
	return nil
}

func (s *session) acked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flow.Acked()
}

func (s *session) writeFrame(f frame.Frame) error {
	b, err := frame.Encode(f)
	if err != nil {
		return err
	}
	return s.write(b)
}

// write bounds each frame with its own timeout rather than the session's
// context, whose cancellation would tear the connection down mid-frame.
func (s *session) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.hub.opts.WriteTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b)
}
