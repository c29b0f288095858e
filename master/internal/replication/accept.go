package replication

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
)

// ServeHTTP accepts a peer on /replicate: it checks the token, upgrades,
// reads the hello, decides where the stream starts, and runs the session
// until either side goes away.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.track() {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "master shutting down"))
		return
	}
	defer h.wg.Done()
	if h.opts.RequireClientCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		h.log.Warn("refused replication peer: no verified client certificate", zap.String("remote", r.RemoteAddr))
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized,
			"replication needs a client certificate signed by the master's REPLICATION_CLIENT_CA_FILE"))
		return
	}
	if !h.Authorized(r) {
		h.log.Warn("refused replication peer: wrong or missing token", zap.String("remote", r.RemoteAddr))
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized,
			"replication needs the master's REPLICATION_TOKEN as \"Authorization: Bearer <token>\""))
		return
	}
	if n := h.conns.Add(1); n > int64(h.opts.MaxPeers) {
		h.conns.Add(-1)
		h.log.Warn("refused replication peer: too many peers", zap.String("remote", r.RemoteAddr),
			zap.Int("maxPeers", h.opts.MaxPeers))
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable,
			"the master already has %d replication peers (MAX_REPLICATION_PEERS); retry later or raise the limit",
			h.opts.MaxPeers))
		return
	}
	defer h.conns.Add(-1)
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
	var term *Term
	if h.opts.Failover {
		if term = h.CurrentTerm(); term == nil {
			h.opts.Standby(h.ctx, conn, hello)
			return
		}
	}
	start, err := h.decide(term, hello)
	if err != nil {
		h.log.Error("refused secondary", zap.String("peer", hello.Name), zap.Error(err))
		closeWithError(conn, &protocolError{msg: err.Error()})
		return
	}
	s := h.newSession(conn, hello, start)
	s.term = term
	if term != nil && hello.Learner {
		// A wiped node's acks count for nothing until it is re-admitted
		// (docs/FAILOVER.md, "Wiped nodes"): it is streamed as an observer,
		// and what its earlier sessions acked no longer counts — it no
		// longer holds it.
		h.forgetHolder(hello.Name)
		if term.Learner != nil {
			term.Learner(hello.Name)
		}
		s.observer = true
		s.progress = newProgress(start.From, h.opts.Window, h.opts.MaxFrames, true, s.wake)
	}
	if !h.join(s, start) {
		closeWithError(conn, fmt.Errorf("%w (epoch %d): redial", errSteppedDown, term.Epoch))
		return
	}
	defer h.leave(s)
	acked, err := s.run(start, hello)
	s.log.Info("replication session ended", zap.Uint64("ackedId", acked), zap.Error(err))
}

// decide is where a peer's stream starts: Decide for a single master, the
// term's divergence search with failover.
func (h *Hub) decide(t *Term, hello frame.Frame) (Start, error) {
	if t == nil {
		return Decide(h.store.LogID(), h.store.FirstID(), h.store.LastID(), hello)
	}
	s, err := t.hello(h.store.LogID(), h.store.LastID(), hello)
	if err == nil && s.From < h.store.FirstID() {
		s.From, s.Behind = h.store.FirstID(), true
	}
	return s, err
}

// Authorized checks the bearer token (REPLICATION_TOKEN) in constant
// time. Both sides are hashed first so that not even the token's length
// leaks through timing. POST /promote asks it too.
func (h *Hub) Authorized(r *http.Request) bool {
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
	if h.closed {
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
	if !frame.Accepts(f.Version, h.opts.Failover) {
		return frame.Frame{}, protocolErrorf("protocol version %d not supported; this master speaks %d to %d", f.Version, frame.MinVersion, frame.Version)
	}
	if f.Role == "" {
		f.Role = frame.RoleSecondary
	}
	return f, nil
}
