package netfault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo is a TCP echo server on loopback until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // ends when its listener closes, and each echo when its peer does
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func listen(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a byte and waits for its echo.
func roundTrip(c net.Conn, within time.Duration) error {
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

// closedWithin is nil when c's peer closes it within d.
func closedWithin(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("still open after %s", d)
	}
	if err == nil {
		return fmt.Errorf("read %d bytes", n)
	}
	return nil
}

// TestFaults: the proxy forwards, delays, blackholes (holding bytes
// until healed, sockets open) and cuts (refusing new connections until
// healed).
func TestFaults(t *testing.T) {
	p := listen(t, echo(t))
	c := dial(t, p)
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("forwarding: %v", err)
	}
	p.Delay(150*time.Millisecond, 150*time.Millisecond)
	start := time.Now()
	if err := roundTrip(c, 5*time.Second); err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("delayed round trip: %v after %s, want at least 300ms", err, time.Since(start))
	}
	p.Heal()
	p.Blackhole()
	if err := roundTrip(c, 200*time.Millisecond); err == nil {
		t.Fatal("a byte crossed the blackhole")
	}
	p.Heal()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("the byte held in the blackhole did not arrive on heal: %v", err)
	}
	p.Cut()
	if err := closedWithin(c, 5*time.Second); err != nil {
		t.Fatalf("the connection survived the cut: %v", err)
	}
	if err := closedWithin(dial(t, p), 5*time.Second); err != nil {
		t.Fatalf("a new connection was forwarded while cut: %v", err)
	}
	p.Heal()
	if err := roundTrip(dial(t, p), 5*time.Second); err != nil {
		t.Fatalf("after healing the cut: %v", err)
	}
}

// target is a TCP server that sends what each connection reads to got,
// and closes the channel when that connection ends.
func target(t *testing.T) (addr string, conns <-chan net.Conn, got <-chan chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs, gs := make(chan net.Conn, 4), make(chan chan string, 4)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			lines := make(chan string, 16)
			cs <- c
			gs <- lines
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
		}
	}()
	return ln.Addr().String(), cs, gs
}

func receive(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case got, ok := <-lines:
		if !ok || got != want {
			t.Fatalf("the target got %q (open %v), want %q", got, ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the target never got %q", want)
	}
}

// TestBlackholeThenResetDropsWhatItHeld: a proxy forwards both ways;
// blackholed, it forwards nothing but keeps the sockets open; reset, it
// closes the connection and what it held never arrives (make demo's
// cut-off leader's tail reaches no follower); a new connection is
// forwarded again; Close ends every goroutine (TestMain checks).
func TestBlackholeThenResetDropsWhatItHeld(t *testing.T) {
	addr, conns, got := target(t)
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "before")
	lines, server := <-got, <-conns
	receive(t, lines, "before")

	l.Blackhole()
	fmt.Fprintln(c, "held")
	fmt.Fprintln(server, "held back")
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed, the proxy forwarded %d bytes to the dialer (%v)", n, err)
	}
	select {
	case line := <-lines:
		t.Fatalf("blackholed, the proxy forwarded %q to the target", line)
	case <-time.After(300 * time.Millisecond):
	}

	l.Reset()
	if line, open := <-lines; open {
		t.Fatalf("after a reset the target got %q; want the connection closed with nothing more", line)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("after a reset the dialer read %q, %v; want the connection closed with nothing more", b, err)
	}

	c2, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintln(c2, "after")
	receive(t, <-got, "after")
	<-conns
}
