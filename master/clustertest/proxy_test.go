package clustertest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
)

// proxy is a TCP proxy on loopback between a secondary and the master,
// for network faults: cut closes every connection through it (and those
// that try while cut); blackhole keeps the sockets but forwards nothing;
// delay holds each direction's bytes for a while; heal undoes them all.
// It is the test's own, so partitions need no root and no other host.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	black   bool
	up      time.Duration // delay toward the master
	down    time.Duration // delay toward the secondary
	changed chan struct{} // closed and replaced on every change
	conns   map[net.Conn]struct{}
	closed  bool

	wg sync.WaitGroup
}

// newProxy forwards a loopback port to target until the test ends.
func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is where secondaries dial instead of the master.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// via is the proxy as a secondary's way to its master (proc.Spec.Via).
func (p *proxy) via(*proc.Node) string { return p.Addr() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *proxy) serve(c net.Conn) {
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

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pump copies src to dst, holding what it read while the link is
// blackholed, and for the direction's delay; closing either side ends
// both pumps of the pair.
func (p *proxy) pump(src, dst net.Conn, toMaster bool) {
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
			if toMaster {
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
func (p *proxy) set(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Cut closes every connection through the proxy, and each new one, until
// Heal.
func (p *proxy) Cut() {
	p.set(func() {
		p.cut = true
		for c := range p.conns {
			c.Close()
		}
	})
}

// Blackhole forwards nothing, in either direction, until Heal; the
// sockets stay open, as across a partition that drops packets.
func (p *proxy) Blackhole() { p.set(func() { p.black = true }) }

// Delay holds bytes toward the master for up and toward the secondary
// for down.
func (p *proxy) Delay(up, down time.Duration) { p.set(func() { p.up, p.down = up, down }) }

// Heal ends every fault.
func (p *proxy) Heal() { p.set(func() { p.cut, p.black, p.up, p.down = false, false, 0, 0 }) }

func (p *proxy) close() {
	p.set(func() {
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
	})
	p.ln.Close()
	p.wg.Wait()
}

// TestProxyFaults: the chaos proxy forwards, delays, blackholes (holding
// bytes until healed, sockets open) and cuts.
func TestProxyFaults(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() { // the echo server: ends when its listener closes
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	p := newProxy(t, echo.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(within time.Duration) error {
		t.Helper()
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(within))
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	if err := roundTrip(5 * time.Second); err != nil {
		t.Fatalf("forwarding: %v", err)
	}
	p.Delay(150*time.Millisecond, 150*time.Millisecond)
	start := time.Now()
	if err := roundTrip(5 * time.Second); err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("delayed round trip: %v after %s, want at least 300ms", err, time.Since(start))
	}
	p.Heal()
	p.Blackhole()
	if err := roundTrip(200 * time.Millisecond); err == nil {
		t.Fatal("a byte crossed the blackhole")
	}
	p.Heal()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("the byte held in the blackhole did not arrive on heal: %v", err)
	}
	p.Cut()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection survived the cut")
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(make([]byte, 1)); err == nil {
			t.Fatal("a new connection was forwarded while cut")
		}
		c2.Close()
	}
	p.Heal()
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c = c3
	if err := roundTrip(5 * time.Second); err != nil {
		t.Fatalf("after healing the cut: %v", err)
	}
}
