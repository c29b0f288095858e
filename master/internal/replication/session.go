package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/frame"
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

// session streams the log to one peer. Two goroutines serve it: the loop
// (run), which decides what to send and is the only one to write frames,
// and the reader, which decodes the peer's frames. How far the peer got
// lives in progress, which both use through methods of their own: the
// reader records an ack there and in the hub itself, so that the writes
// it satisfies wake with no hand-off, and progress wakes the loop when it
// sleeps waiting for that ack. Nacks and fault answers go to the loop over
// control; fault control is the loop's, in faults.
type session struct {
	hub      *Hub
	id       SessionID // set by the hub when it joins
	conn     *websocket.Conn
	out      *frame.Writer // every frame to the peer
	log      *zap.Logger
	name     string
	observer bool
	version  int             // the protocol version the peer speaks (frame.Negotiate): every frame is written for it
	ctx      context.Context // cancelled to end the session; its cause says why
	cancel   context.CancelCauseFunc
	wake     chan struct{}    // capacity 1: "look at the log again"
	control  chan frame.Frame // nacks and fault answers, reader → loop
	counters *Counters        // its secondary's; set by the hub when it joins (observers: their own)
	progress *progress        // what the peer was sent and acked
	faults   faultControl
	term     *Term       // with failover, the term the session streams; nil for a single master
	notices  chan notice // frames the hub asks the loop to write (Broadcast)
}

// ready is always ready: the loop selects on it instead of wake when it
// has more to send, so that one select serves the busy and the idle loop.
var ready = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (h *Hub) newSession(conn *websocket.Conn, hello frame.Frame, start Start) *session {
	ctx, cancel := context.WithCancelCause(h.ctx)
	s := &session{
		hub:      h,
		conn:     conn,
		out:      frame.NewWriter(conn, h.opts.WriteTimeout),
		log:      h.log.With(zap.String("peer", hello.Name), zap.String("role", string(hello.Role))),
		name:     hello.Name,
		observer: hello.Role == frame.RoleObserver,
		version:  frame.Negotiate(hello.Version),
		ctx:      ctx,
		cancel:   cancel,
		wake:     make(chan struct{}, 1),
		// Nacks and fault answers are few, so a small buffer keeps the
		// reader from waiting on the loop.
		control: make(chan frame.Frame, 64),
		notices: make(chan notice, 1),
		faults:  newFaultControl(hello),
	}
	s.progress = newProgress(start.From, h.opts.Window, h.opts.MaxFrames, s.observer, s.wake)
	return s
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run greets the peer, then streams the log to it until either side fails
// or the session is cancelled. It returns the highest id the peer acked
// and why the session ended.
func (s *session) run(start Start, hello frame.Frame) (acked uint64, err error) {
	h := s.hub
	if start.Resync {
		s.log.Warn("secondary holds another log; it will drop it and resync from id 1",
			zap.String("peerLogId", hello.LogID), zap.Uint64("peerLastId", hello.LastID))
	}
	if start.Behind {
		s.log.Warn("secondary lacks ids retention dropped; it restarts its log at the first id held",
			zap.Uint64("peerLastId", hello.LastID), zap.Uint64("firstId", start.From))
	}
	welcome := frame.Frame{Type: frame.TypeWelcome, Version: s.version, LogID: h.store.LogID(),
		LastID: h.store.LastID(), From: start.From, MaxFrameBytes: h.opts.maxFrameBytes(),
		HeartbeatMs: h.opts.HeartbeatInterval.Milliseconds(), FirstID: h.store.FirstID()}
	if t := s.term; t != nil {
		leads := true
		welcome.Leader, welcome.Name, welcome.Epoch, welcome.Epochs = &leads, t.Name, t.Epoch, FrameHistory(t.History)
		welcome.Keep, welcome.Voters, welcome.URL = start.Keep, t.Voters, t.URL
	}
	if err := s.writeFrame(welcome); err != nil {
		return start.From - 1, err
	}
	s.log.Info("replication peer connected", zap.Uint64("from", start.From), zap.Uint64("lastId", welcome.LastID))

	readErr := make(chan error, 1)
	go func() {
		err := s.readLoop()
		s.cancel(err)
		readErr <- err
	}()
	err = s.loop()
	s.cancel(err)
	s.drainNotices()
	cause := context.Cause(s.ctx)
	s.close(cause)
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		err = cause
	}
	return s.progress.acked(), err
}

// loop is the session's owner: it alone asks progress what to send, sends
// it (or holds it for the linger, see holds), sleeps when the flow is full
// until an ack wakes it, takes the peer's nacks, and sends a heartbeat
// every interval, even while busy, so that a slow or paused peer shows.
// It returns nil once the session is cancelled, which it notices between
// any two frames, however far behind the peer is.
func (s *session) loop() error {
	h := s.hub
	beat := time.NewTicker(h.opts.HeartbeatInterval)
	defer beat.Stop()
	var (
		out     appendsOut
		beats   uint64
		lingerC <-chan time.Time // set while appends are held back (see holds)
		due     bool             // the linger ran out: send what is held
	)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		last := h.store.LastID()
		from, n, full, err := s.progress.next(last, h.opts.BatchEntries)
		if err != nil {
			return err
		}
		send := n > 0 && !s.holds(from, n, due)
		wake, grew := s.wake, (<-chan struct{})(nil)
		switch {
		case send:
			wake = ready
		case full: // the ack that frees the flow wakes the loop
			if !s.progress.sleep() {
				continue // an ack came since next took them: look again
			}
		case n > 0: // holding appends back (see holds): the linger's end or a hurry wakes the loop
		default: // caught up: the log's growth wakes the loop
			grew = s.grew(last)
		}
		if n > 0 && !send && lingerC == nil {
			linger.Reset(h.opts.Linger)
			lingerC = linger.C
		}
		select {
		case <-s.ctx.Done():
			return nil
		case <-beat.C:
			beats++
			hb := frame.Frame{Type: frame.TypeHeartbeat, ID: beats, FirstID: h.store.FirstID(), LastID: h.store.LastID(),
				CommitID: h.commitID()}
			if s.term != nil {
				hb.Epoch = s.term.Epoch
			}
			if err := s.writeFrame(hb); err != nil {
				return fmt.Errorf("send heartbeat: %w", err)
			}
		case req := <-s.faults.requests:
			if err := s.writeFrame(s.faults.ask(req)); err != nil {
				return fmt.Errorf("send faults: %w", err)
			}
		case f := <-s.control:
			if err := s.fromReader(f); err != nil {
				return err
			}
		case n := <-s.notices:
			err := s.writeFrame(n.f)
			n.done(err == nil)
			if err != nil {
				return fmt.Errorf("send %s: %w", n.f.Type, err)
			}
		case <-lingerC:
			lingerC, due = nil, true
		case <-grew: // look at the log again
		case <-wake:
			if !send {
				continue // an ack, a hurry or retention: look again
			}
			linger.Stop()
			lingerC, due = nil, false
			if err := s.sendAppends(from, n, &out); err != nil {
				return err
			}
		}
	}
}

// fromReader takes a nack or a fault answer the reader handed over.
func (s *session) fromReader(f frame.Frame) error {
	if f.Type == frame.TypeFaults {
		s.faults.answer(f)
		if f.Faults != nil {
			s.hub.faultsAnswered(s, f.Faults)
		}
		return nil
	}
	if err := s.progress.nack(f.From); err != nil {
		return err
	}
	s.counters.NacksReceived.Add(1)
	s.log.Debug("peer asked for a resend", zap.Uint64("id", f.From), zap.String("reason", f.Error))
	return nil
}

// grew returns the store's signal of the log's next change for a loop
// that saw last as the log's last id: ready if the log grew before the
// signal was taken.
func (s *session) grew(last uint64) <-chan struct{} {
	changed := s.hub.store.Changed()
	if s.hub.store.LastID() != last {
		return ready
	}
	return changed
}

// appendsOut is the loop's scratch for append frames, kept across frames.
type appendsOut struct {
	entries []frame.Entry
	buf     []byte
}

// sendAppends sends the n ids from from in one frame.
func (s *session) sendAppends(from uint64, n int, out *appendsOut) error {
	h := s.hub
	if first := h.first.Load(); from < first { // Retain's atomic: no store lock per frame
		return fmt.Errorf("%w: the peer needs id %d, the log now starts at %d", errBehind, from, first)
	}
	var err error
	if out.entries, err = h.store.Read(out.entries[:0], from, n, h.opts.BatchBytes); err != nil {
		return fmt.Errorf("read log from id %d: %w", from, err)
	}
	if len(out.entries) == 0 || out.entries[0].ID != from { // dropped since the check: Retain follows the drop
		return fmt.Errorf("%w: the peer needs id %d, the log now starts at %d", errBehind, from, h.store.FirstID())
	}
	s.progress.sent(len(out.entries))
	to := from + uint64(len(out.entries)) - 1
	s.counters.FramesSent.Add(1)
	s.counters.MessagesSent.Add(uint64(len(out.entries)))
	out.buf = frame.AppendEntriesCommitFor(out.buf[:0], out.entries, s.version, h.commitID())
	if err := s.write(out.buf); err != nil {
		return fmt.Errorf("send ids %d-%d: %w", from, to, err)
	}
	return nil
}

// holds reports whether the loop should hold back the n ids from from,
// to send them with those that follow in one frame: while no write waits
// for any of them (writeConcern 1: nobody's reply depends on them), the
// frame is not full and the linger has not run out. One frame for many
// appends saves a write here and a read, an apply and an ack on the peer
// for each append it gathers; the cost is replication lag of at most the
// linger. While it holds, the loop does not wake for each append that
// follows: they leave together when the linger runs out or a write waits
// for one of them.
func (s *session) holds(from uint64, n int, due bool) bool {
	o := s.hub.opts
	return !o.NoLinger && o.Linger > 0 && !s.observer && !due && n < o.BatchEntries && from > s.hub.urgent.Load()
}

// ack records, in the reader, that the peer holds every id up to id: in
// progress, which wakes the loop if it waits for that ack, and in the hub,
// which wakes the writes that satisfies.
func (s *session) ack(id uint64) error {
	s.counters.AcksReceived.Add(1)
	news, err := s.progress.ack(id)
	switch {
	case err != nil:
		return err
	case news:
		s.hub.heard(s, id)
	default:
		s.hub.seen(s)
	}
	return nil
}

// readLoop decodes the peer's frames until the connection closes, takes
// acks (see ack), hands nacks and fault answers to the loop, and tells the
// hub the peer is alive.
func (s *session) readLoop() error {
	r := frame.NewReader(s.conn, 0) // the loop's heartbeats tell when the peer is gone
	for {
		typ, data, err := r.Read() // ends when the connection closes
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
		if f.Type == frame.TypeAck {
			if s.observer {
				continue // observers never count
			}
			if t := s.term; t != nil && f.Epoch != t.Epoch {
				return protocolErrorf("ack of epoch %d on a session of epoch %d", f.Epoch, t.Epoch)
			}
			if err := s.ack(f.ID); err != nil {
				return err
			}
			if t := s.term; t != nil {
				t.Ack(s.name, f.ID)
			}
			continue
		}
		if !s.observer {
			s.hub.seen(s)
			if t := s.term; t != nil {
				t.Heard(s.name)
			}
		}
		switch f.Type {
		case frame.TypeNack:
		case frame.TypeFaults:
			if s.observer {
				continue
			}
		case frame.TypeHeartbeat:
			continue // its arrival was the point: the peer is alive and reading
		case frame.TypePromote:
			if t := s.term; t != nil && t.Promote != nil && !s.observer {
				t.Promote(s.name)
				continue
			}
			return protocolErrorf("promote on a session without failover")
		case frame.TypeError:
			return fmt.Errorf("peer reported: %s", f.Error)
		default:
			return protocolErrorf("unexpected %s frame from a peer", f.Type)
		}
		select {
		case s.control <- f:
		case <-s.ctx.Done():
			return nil
		}
	}
}

// drainNotices answers a notice left unsent when the loop ended, so that
// Broadcast does not wait for it.
func (s *session) drainNotices() {
	select {
	case n := <-s.notices:
		n.done(false)
	default:
	}
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

// writeFrame sends f as the peer's version reads it (frame.EncodeFor): a
// version-1 peer gets exactly what the release before sent it.
func (s *session) writeFrame(f frame.Frame) error { return s.out.SendFor(f, s.version) }

// write bounds each frame with the write timeout (see frame.Writer)
// rather than the session's context, whose cancellation would tear the
// connection down mid-frame; the loop looks at the context between
// frames instead.
func (s *session) write(b []byte) error { return s.out.Write(b) }

// errBehind ends a session whose peer needs ids retention dropped: it
// reconnects and restarts its log at the first id held.
var errBehind = errors.New("the peer fell behind retention")
