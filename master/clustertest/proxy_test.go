package clustertest

import (
	"testing"

	"github.com/replog/replog/master/internal/netfault"
	"github.com/replog/replog/master/internal/proc"
)

// proxy is a netfault.Proxy between a node and a master, for network
// faults (cut, blackhole, delay, heal), closed when the test ends.
type proxy struct{ *netfault.Proxy }

// newProxy forwards a loopback port to target until the test ends.
func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p, err := netfault.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &proxy{p}
}

// via is the proxy as a secondary's way to its master (proc.Spec.Via).
func (p *proxy) via(*proc.Node) string { return p.Addr() }
