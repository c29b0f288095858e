package config

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// defaultName is a secondary's name when NODE_NAME is not set: its
// hostname, or, in a container whose hostname is its id (as every replica
// of `docker compose up --scale secondary=N` has), the container's name,
// which Docker's DNS answers for the container's own address. The master's
// /health and the dashboard then name replicas as `docker ps` does
// (replog_secondary_2) instead of by an id that changes with every new
// container.
func defaultName(hostname string, r resolver) string {
	if !isContainerID(hostname) {
		return hostname
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, hostname)
	if err != nil {
		return hostname
	}
	for _, a := range addrs {
		if ptrs, err := r.PTR(ctx, a); err == nil {
			if name := nameFromPTR(hostname, ptrs); name != "" {
				return name
			}
		}
	}
	return hostname
}

// resolver finds a host's addresses and an address's names.
type resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	PTR(ctx context.Context, addr string) ([]string, error)
}

// dnsResolver looks hosts up as Go does, and asks the DNS server of
// resolvConf itself for an address's names: Go's resolver answers a
// reverse lookup from /etc/hosts first, where Docker maps the container's
// address to its id, so it never asks Docker's DNS, which knows the name.
type dnsResolver struct{ resolvConf string }

func (dnsResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}

func (d dnsResolver) PTR(ctx context.Context, addr string) ([]string, error) {
	server, err := nameserver(d.resolvConf)
	if err != nil {
		return nil, err
	}
	return queryPTR(ctx, server, addr)
}

// nameserver is the first nameserver of a resolv.conf, as host:53.
func nameserver(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "nameserver" {
			return net.JoinHostPort(fields[1], "53"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s names no nameserver", path)
}

// queryPTR asks server, over UDP, for the PTR records of addr.
func queryPTR(ctx context.Context, server, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	arpa, err := dnsmessage.NewName(reverseName(ip))
	if err != nil {
		return nil, err
	}
	const id = 0x5e1f
	q, err := (&dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: arpa, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}},
	}).Pack()
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		return nil, err
	}
	if m.ID != id || !m.Response {
		return nil, errors.New("not an answer to the question asked")
	}
	var names []string
	for _, a := range m.Answers {
		if ptr, ok := a.Body.(*dnsmessage.PTRResource); ok {
			names = append(names, ptr.PTR.String())
		}
	}
	return names, nil
}

// reverseName is the in-addr.arpa (or ip6.arpa) name of ip.
func reverseName(ip netip.Addr) string {
	var b strings.Builder
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa.", a[3], a[2], a[1], a[0])
		return b.String()
	}
	a := ip.As16()
	const hex = "0123456789abcdef"
	for i := len(a) - 1; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String()
}

// nameFromPTR picks a container's name from the names its address
// resolves back to ("replog_secondary_2.replog_cluster."): the first
// label of the first that is not the hostname itself; "" if none.
func nameFromPTR(hostname string, ptrs []string) string {
	for _, p := range ptrs {
		label, _, _ := strings.Cut(strings.TrimSuffix(p, "."), ".")
		if label != "" && label != hostname && !isContainerID(label) {
			return label
		}
	}
	return ""
}

// isContainerID says whether s looks like the short id Docker gives a
// container as its hostname: twelve lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
