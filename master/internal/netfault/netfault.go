// Package netfault is a TCP proxy on loopback through which one process
// reaches another, for network faults without root or another host: cut
// closes every connection (and refuses new ones), blackhole keeps the
// sockets but forwards nothing (a partition that drops packets: neither
// end knows yet), delay holds each direction's bytes, reset drops every
// connection and what it held. The cluster tests' chaos and partitions
// and `make demo`'s cut-off leader use it.
package netfault

import (
	"net"
	"sync"
	"time"
)

// Proxy forwards a loopback port to a target address until Close.
type Proxy struct {
	ln     net.Listener
	target string

	// mu guards the faults and conns; the pumps wait on changed, which
	// set closes and replaces on every change.
	mu      sync.Mutex
	cut     bool
	black   bool
	up      time.Duration // delay toward the target
	down    time.Duration // delay from the target
	changed chan struct{}
	conns   map[net.Conn]struct{} // both ends of every pair
	closed  bool

	wg sync.WaitGroup // the accept loop and every pair's goroutines
}

// Listen forwards a free loopback port to target until Close.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is where to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.forget(c)
	m, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(m) {
		m.Close()
		return
	}
	defer p.forget(m)
	var pumps sync.WaitGroup
	pumps.Go(func() { p.pump(c, m, true) })
	pumps.Go(func() { p.pump(m, c, false) })
	pumps.Wait()
}

// track adds a connection, unless the proxy is cut or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pump copies src to dst, holding what it read while blackholed, and for
// the direction's delay; closing either side ends both pumps of the
// pair, and what a pump held is then lost.
func (p *Proxy) pump(src, dst net.Conn, toTarget bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		read := time.Now()
		for {
			p.mu.Lock()
			black, closed, changed := p.black, p.closed, p.changed
			delay := p.down
			if toTarget {
				delay = p.up
			}
			p.mu.Unlock()
			if closed {
				return
			}
			wait := time.Until(read.Add(delay))
			if !black && wait <= 0 {
				break
			}
			var timer <-chan time.Time
			if !black {
				timer = time.After(wait)
			}
			select {
			case <-changed:
			case <-timer:
			}
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// set changes the faults under the lock and wakes the pumps.
func (p *Proxy) set(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// closeConns closes every connection through the proxy; mu is held.
func (p *Proxy) closeConns() {
	for c := range p.conns {
		c.Close()
	}
}

// Cut closes every connection through the proxy, and each new one, until
// Heal or Reset.
func (p *Proxy) Cut() {
	p.set(func() {
		p.cut = true
		p.closeConns()
	})
}

// Blackhole forwards nothing, in either direction, until Heal; the
// sockets stay open, as across a partition that drops packets.
func (p *Proxy) Blackhole() { p.set(func() { p.black = true }) }

// Delay holds bytes toward the target for up and from it for down.
func (p *Proxy) Delay(up, down time.Duration) { p.set(func() { p.up, p.down = up, down }) }

// Heal ends every fault; what a blackhole held is delivered.
func (p *Proxy) Heal() { p.set(func() { p.cut, p.black, p.up, p.down = false, false, 0, 0 }) }

// Reset closes every connection through the proxy, dropping what it held,
// ends every fault, and forwards new connections: a partition that
// healed after both ends gave up on their connections.
func (p *Proxy) Reset() {
	p.set(func() {
		p.closeConns()
		p.cut, p.black, p.up, p.down = false, false, 0, 0
	})
}

// Close closes every connection and the listener, and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.set(func() {
		p.closed = true
		p.closeConns()
	})
	p.ln.Close()
	p.wg.Wait()
}
