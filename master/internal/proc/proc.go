// Package proc runs replog's binaries as child processes on loopback
// ports, for the cluster tests, the benchmark and the demo alike: start
// one, wait until it answers, signal it, kill it, wait for it; and a
// Cluster that starts a set of them from specs, secondaries dialing its
// masters.
package proc

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/replog/replog/shared/poll"
)

// StartTimeout bounds the wait for a started node to answer (and be
// ready).
const StartTimeout = 20 * time.Second

// Node is one replog process. Set the fields, then Start it; it can be
// killed and started again on the same address.
type Node struct {
	Name string
	Bin  string   // path of the binary
	Args []string // its arguments
	Env  []string // added to this process's environment
	Addr string   // host:port of its HTTP API
	Logs io.Writer
	// Ready, when set, must pass after every start besides /health
	// answering.
	Ready func() error
	// TLS, when set, is how the node's API is reached: over https,
	// verified with it.
	TLS *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
}

// URL is the node's HTTP API.
func (n *Node) URL() string {
	if n.TLS != nil {
		return "https://" + n.Addr
	}
	return "http://" + n.Addr
}

// Client is an HTTP client for the node's API.
func (n *Node) Client() *http.Client {
	if n.TLS == nil {
		return client
	}
	return &http.Client{Timeout: client.Timeout, Transport: &http.Transport{TLSClientConfig: n.TLS}}
}

// Start starts the process and waits until its /health answers and Ready
// passes. On an error the process may still run: Kill it.
func (n *Node) Start() error {
	n.mu.Lock()
	cmd := exec.Command(n.Bin, n.Args...)
	cmd.Env = append(os.Environ(), n.Env...)
	cmd.Stdout, cmd.Stderr = n.Logs, n.Logs
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	err := poll.For(StartTimeout, func() error {
		select {
		case <-done:
			return fmt.Errorf("%s exited at start", n.Name)
		default:
		}
		var h map[string]any
		return getJSON(n.Client(), n.URL()+"/health", &h)
	})
	if err == nil && n.Ready != nil {
		err = poll.For(StartTimeout, n.Ready)
	}
	return err
}

// Done is closed when the process last started has exited.
func (n *Node) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done
}

// Pid is the process id of the process last started.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.Process.Pid
}

// Signal sends sig to the process; one that has exited ignores it.
func (n *Node) Signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// Kill SIGKILLs the process and waits for it to be gone.
func (n *Node) Kill() error {
	n.Signal(syscall.SIGKILL)
	return n.Wait(10 * time.Second)
}

// Stop SIGTERMs the process, waits up to d for it to exit, and returns
// its exit code.
func (n *Node) Stop(d time.Duration) (int, error) {
	n.Signal(syscall.SIGTERM)
	if err := n.Wait(d); err != nil {
		return -1, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.ProcessState.ExitCode(), nil
}

// Wait waits up to d for the process to exit; a node never started has
// nothing to wait for.
func (n *Node) Wait(d time.Duration) error {
	done := n.Done()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %s", n.Name, d)
	}
}

// FreeAddr returns a loopback host:port that is free at the moment, below
// the kernel's ephemeral port range when there is room: a node is killed
// and started again on its address, and meanwhile an ephemeral port (an
// outgoing connection's, or a proxy's listening on :0; the chaos tests
// make thousands) could take it, and the restart fail ("exited at
// start"). Ports are drawn at random from 20000 up to that range, so that
// test packages running at once rarely draw the same.
func FreeAddr() (string, error) {
	if low := ephemeralLow(); low > minPort+1000 {
		for range 50 {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(minPort+rand.IntN(low-minPort))))
			if err == nil {
				addr := ln.Addr().String()
				ln.Close()
				return addr, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// minPort is the lowest port FreeAddr draws: above the ports people
// run things on by hand (make run's 8080-8082, the compose stacks').
const minPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0
// where it cannot be read (not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
}

var client = &http.Client{Timeout: 60 * time.Second}

// GetJSON GETs url and decodes a 200 reply's JSON body into v.
func GetJSON(url string, v any) error { return getJSON(client, url, v) }

// GetJSON GETs path of the node's API (over TLS when the node has it)
// and decodes a 200 reply into v.
func (n *Node) GetJSON(path string, v any) error { return getJSON(n.Client(), n.URL()+path, v) }

func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Status reads a size field (VmRSS, VmHWM, …) of /proc/<pid>/status, in
// bytes.
func Status(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
