package main

import (
	"net"
	"sync"
)

// link is a TCP proxy on loopback through which one node reaches a
// master, so that the demo can cut a leader off without root: hold
// forwards nothing in either direction but keeps the sockets open (a
// partition that drops packets: the leader does not know yet), and reset
// closes every connection, dropping what it held, and forwards again.
type link struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	held    bool
	changed chan struct{}         // closed and replaced on every change
	conns   map[net.Conn]struct{} // both ends of every pair
	closed  bool

	wg sync.WaitGroup
}

// newLink forwards a free loopback port to target until close.
func newLink(target string) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &link{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	l.wg.Go(l.accept)
	return l, nil
}

// Addr is where the node dials instead of the master.
func (l *link) Addr() string { return l.ln.Addr().String() }

func (l *link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		if !l.track(c) {
			c.Close()
			continue
		}
		l.wg.Go(func() { l.serve(c) })
	}
}

func (l *link) serve(c net.Conn) {
	defer l.forget(c)
	m, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	if !l.track(m) {
		m.Close()
		return
	}
	defer l.forget(m)
	var pumps sync.WaitGroup
	pumps.Go(func() { l.pump(c, m) })
	pumps.Go(func() { l.pump(m, c) })
	pumps.Wait()
}

func (l *link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *link) forget(c net.Conn) {
	c.Close()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// pump copies src to dst; what it read while the link is held waits, and
// is lost if reset closes the pair meanwhile.
func (l *link) pump(src, dst net.Conn) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for {
			l.mu.Lock()
			held, closed, changed := l.held, l.closed, l.changed
			l.mu.Unlock()
			if closed {
				return
			}
			if !held {
				break
			}
			<-changed
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// set changes the link under the lock and wakes the pumps.
func (l *link) set(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	close(l.changed)
	l.changed = make(chan struct{})
}

// Hold forwards nothing, in either direction, until Reset.
func (l *link) Hold() { l.set(func() { l.held = true }) }

// Reset closes every connection through the link, dropping what it held,
// and forwards new ones.
func (l *link) Reset() {
	l.set(func() {
		for c := range l.conns {
			c.Close()
		}
		l.held = false
	})
}

// close closes every connection and the listener, and waits for the
// link's goroutines.
func (l *link) close() {
	l.set(func() {
		l.closed = true
		for c := range l.conns {
			c.Close()
		}
	})
	l.ln.Close()
	l.wg.Wait()
}
