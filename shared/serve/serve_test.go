package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/replog/replog/shared/poll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves an "ok" handler with the node's server settings on a
// loopback port, until the test ends.
func start(t *testing.T, s Settings) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), zaptest.NewLogger(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func settings() Settings {
	return Settings{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
}

func get(t *testing.T, addr string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("a normal client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal client: %s", resp.Status)
	}
}

// TestSlowlorisIsCutOff: a client that sends its headers a byte at a
// time is closed after HTTP_READ_HEADER_TIMEOUT, and others are served
// meanwhile.
func TestSlowlorisIsCutOff(t *testing.T) {
	s := settings()
	s.ReadHeaderTimeout = 300 * time.Millisecond
	addr := start(t, s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() { // the slow client: owned by this test, ends when the server closes it or the test stops it
		n := 0
		defer func() { sent <- n }()
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
		for i := range len(head) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond): // the attack is the pace
			}
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				return
			}
			n++
		}
	}()
	defer close(stop)
	begin := time.Now()
	get(t, addr)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the slow client is still connected after 5 s")
	}
	if took := time.Since(begin); took < s.ReadHeaderTimeout {
		t.Fatalf("closed after %s, before the timeout", took)
	}
	get(t, addr)
}

// TestHeadersAreBounded: headers beyond MaxHeaderBytes get 431.
func TestHeadersAreBounded(t *testing.T) {
	addr := start(t, settings())
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*MaxHeaderBytes))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("headers of %d bytes: %s, want 431", 2*MaxHeaderBytes, resp.Status)
	}
	get(t, addr)
}

// TestIdleConnectionsAreBoundedAndClosed: 1000 idle keep-alive
// connections cost a few KiB each, and are closed after
// HTTP_IDLE_TIMEOUT.
func TestIdleConnectionsAreBoundedAndClosed(t *testing.T) {
	const n = 1000
	s := settings()
	s.IdleTimeout = time.Second
	addr := start(t, s)
	before := inUse()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	per := (inUse() - before) / n
	t.Logf("%d idle keep-alive connections: %d bytes each (both ends, in this process)", n, per)
	if per > 64<<10 {
		t.Fatalf("an idle connection costs %d bytes", per)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, c := range conns {
		_ = c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle connection %d not closed by the server after %s: %v", i, s.IdleTimeout, err)
		}
	}
	get(t, addr)
}

// inUse is the memory the Go runtime holds for heap objects and stacks.
func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestHangupWithoutTLSKeepsRunning sends the process SIGHUP with TLS off:
// without StartTLS taking it, its default action ends the test binary.
func TestHangupWithoutTLSKeepsRunning(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	cfg, err := StartTLS(ctx, &wg, Settings{}, zap.New(core))
	if err != nil || cfg != nil {
		t.Fatalf("StartTLS without TLS files = %v, %v; want nil, nil", cfg, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Check(t, 5*time.Second, func() error {
		if logs.FilterMessageSnippet("SIGHUP").Len() == 0 {
			return errors.New("no log line for SIGHUP yet")
		}
		return nil
	})
}
