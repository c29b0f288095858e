package proc

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestClusterSettings: every node gets its address and the cluster's
// settings before its own; a secondary gets its name and a MASTER_URL
// that lists every master (wss for one with TLS, through Via when set);
// it waits to be connected unless detached.
func TestClusterSettings(t *testing.T) {
	c := &Cluster{Bin: "/bin-dir", Env: []string{"LOG_LEVEL=debug"}}
	if _, err := c.Add(Spec{Name: "early", Role: Secondary}); err == nil {
		t.Fatal("a secondary was added before any master")
	}
	m1, err := c.Add(Spec{Name: "m1", Addr: "127.0.0.1:1", TLS: &tls.Config{}, Env: []string{"DATA_DIR=/d1"}})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := c.Add(Spec{Name: "m2", Addr: "127.0.0.1:2"})
	s1, _ := c.Add(Spec{Name: "s1", Role: Secondary, Env: []string{"LOG_LEVEL=warn"}})
	s2, _ := c.Add(Spec{Name: "s2", Role: Secondary, Detached: true,
		Via: func(m *Node) string { return "127.0.0.1:9" + strings.TrimPrefix(m.Addr, "127.0.0.1:") }})

	for _, tc := range []struct {
		n    *Node
		bin  string
		env  []string
		wait bool
	}{
		{m1, "/bin-dir/master", []string{"HTTP_ADDR=127.0.0.1:1", "LOG_LEVEL=debug", "DATA_DIR=/d1"}, false},
		{m2, "/bin-dir/master", []string{"HTTP_ADDR=127.0.0.1:2", "LOG_LEVEL=debug"}, false},
		{s1, "/bin-dir/secondary", []string{"HTTP_ADDR=" + s1.Addr, "LOG_LEVEL=debug", "NODE_NAME=s1",
			"MASTER_URL=wss://127.0.0.1:1/replicate,ws://127.0.0.1:2/replicate", "LOG_LEVEL=warn"}, true},
		{s2, "/bin-dir/secondary", []string{"HTTP_ADDR=" + s2.Addr, "LOG_LEVEL=debug", "NODE_NAME=s2",
			"MASTER_URL=wss://127.0.0.1:91/replicate,ws://127.0.0.1:92/replicate"}, false},
	} {
		if tc.n.Bin != tc.bin || !slices.Equal(tc.n.Env, tc.env) || (tc.n.Ready != nil) != tc.wait {
			t.Errorf("%s: bin %s, env %q, waits to connect %v; want %s, %q, %v",
				tc.n.Name, tc.n.Bin, tc.n.Env, tc.n.Ready != nil, tc.bin, tc.env, tc.wait)
		}
	}
	if got := c.Nodes(); len(got) != 4 || got[2] != s1 {
		t.Errorf("Nodes() = %v, want m1 m2 s1 s2", got)
	}
	if got := c.Masters(); !slices.Equal(got, []*Node{m1, m2}) {
		t.Errorf("Masters() = %v, want m1 m2", got)
	}
	if !strings.HasPrefix(s1.Addr, "127.0.0.1:") {
		t.Errorf("s1 was given %q, want a loopback port", s1.Addr)
	}
	if err := c.Kill(); err != nil {
		t.Errorf("killing a cluster never started: %v", err)
	}
}

// TestConnected: a secondary is ready once its /health says its master is
// connected; until then the error says what it says instead.
func TestConnected(t *testing.T) {
	health := `{"master":"disconnected","masterError":"dial: refused"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, health)
	}))
	defer srv.Close()
	n := &Node{Name: "s1", Addr: strings.TrimPrefix(srv.URL, "http://")}
	if err := Connected(n); err == nil || !strings.Contains(err.Error(), "dial: refused") {
		t.Fatalf("Connected with the master disconnected: %v, want an error saying why", err)
	}
	health = `{"master":"connected"}`
	if err := Connected(n); err != nil {
		t.Fatalf("Connected with the master connected: %v", err)
	}
}

// TestFreeAddrIsBelowTheEphemeralRange: where the kernel says its range,
// FreeAddr's ports are below it (and at least minPort), so that no
// outgoing connection takes a node's port while it restarts.
func TestFreeAddrIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low <= minPort+1000 {
		t.Skipf("the ephemeral range starts at %d: no room below it", low)
	}
	for range 20 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if port < minPort || port >= low {
			t.Fatalf("FreeAddr gave %s, want a port in [%d, %d)", addr, minPort, low)
		}
	}
}
