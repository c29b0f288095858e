package config

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

type fakeResolver struct {
	hosts map[string][]string
	ptrs  map[string][]string
}

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func (f fakeResolver) PTR(_ context.Context, addr string) ([]string, error) {
	if p, ok := f.ptrs[addr]; ok {
		return p, nil
	}
	return nil, errors.New("no PTR")
}

func TestDefaultName(t *testing.T) {
	compose := fakeResolver{
		hosts: map[string][]string{"3f2a9c0d1e4b": {"172.20.0.4"}, "db-host": {"10.0.0.9"}},
		ptrs:  map[string][]string{"172.20.0.4": {"replog_secondary_2.replog_cluster."}, "10.0.0.9": {"other.example."}},
	}
	for _, tc := range []struct {
		name, hostname string
		r              resolver
		want           string
	}{
		{"a named host keeps its name", "db-host", compose, "db-host"},
		{"a compose replica is named as docker ps names it", "3f2a9c0d1e4b", compose, "replog_secondary_2"},
		{"no address for the hostname", "3f2a9c0d1e4b", fakeResolver{}, "3f2a9c0d1e4b"},
		{"no PTR answer", "3f2a9c0d1e4b", fakeResolver{hosts: compose.hosts}, "3f2a9c0d1e4b"},
		{"a PTR that is the id itself", "3f2a9c0d1e4b", fakeResolver{hosts: compose.hosts,
			ptrs: map[string][]string{"172.20.0.4": {"3f2a9c0d1e4b."}}}, "3f2a9c0d1e4b"},
		{"the first useful PTR", "3f2a9c0d1e4b", fakeResolver{hosts: compose.hosts,
			ptrs: map[string][]string{"172.20.0.4": {"3f2a9c0d1e4b.", "replog_secondary_1.net."}}}, "replog_secondary_1"},
		{"uppercase hex is no container id", "3F2A9C0D1E4B", compose, "3F2A9C0D1E4B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := defaultName(tc.hostname, tc.r); got != tc.want {
				t.Fatalf("defaultName(%q) = %q, want %q", tc.hostname, got, tc.want)
			}
		})
	}
}

// TestQueryPTRAsksTheNameserver runs a DNS server on loopback that knows
// one address, and asks it through a resolv.conf naming it — as a
// container's resolver asks Docker's, past /etc/hosts.
func TestQueryPTRAsksTheNameserver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { pc.Close(); <-done }()
	go func() {
		defer close(done)
		serveOnePTR(pc, "4.0.20.172.in-addr.arpa.", "replog_secondary_2.replog_cluster.")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names, err := queryPTR(ctx, pc.LocalAddr().String(), "172.20.0.4")
	if err != nil || !slices.Equal(names, []string{"replog_secondary_2.replog_cluster."}) {
		t.Fatalf("queryPTR = %v, %v", names, err)
	}
	if names, err := queryPTR(ctx, pc.LocalAddr().String(), "172.20.0.5"); err != nil || len(names) != 0 {
		t.Fatalf("queryPTR of an unknown address = %v, %v; want no names", names, err)
	}
	// A resolv.conf names its server without a port: 53.
	host, _, _ := net.SplitHostPort(pc.LocalAddr().String())
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("search example\nnameserver "+host+"\noptions ndots:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := nameserver(conf); err != nil || got != host+":53" {
		t.Fatalf("nameserver(%s) = %q, %v", conf, got, err)
	}
}

// serveOnePTR answers PTR questions for arpa with name until pc closes.
func serveOnePTR(pc net.PacketConn, arpa, name string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dnsmessage.Message
		if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
			continue
		}
		a := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true}, Questions: q.Questions}
		if q.Questions[0].Name.String() == arpa && q.Questions[0].Type == dnsmessage.TypePTR {
			a.Answers = []dnsmessage.Resource{{
				Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: 600},
				Body:   &dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(name)},
			}}
		}
		if out, err := a.Pack(); err == nil {
			_, _ = pc.WriteTo(out, from)
		}
	}
}

func TestReverseName(t *testing.T) {
	for addr, want := range map[string]string{
		"172.20.0.4":      "4.0.20.172.in-addr.arpa.",
		"::ffff:10.1.2.3": "3.2.1.10.in-addr.arpa.",
		"2001:db8::1":     "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
	} {
		if got := reverseName(netip.MustParseAddr(addr)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", addr, got, want)
		}
	}
}
