package clustertest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/certs/certstest"
	"github.com/replog/replog/shared/poll"
)

// tlsTo is how the test reaches a node over TLS: verified against ca.
func tlsTo(t *testing.T, ca *certstest.CA) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool}
}

func tlsHealth(n *node) (map[string]any, error) {
	resp, err := n.Client().Get(n.URL() + "/health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h map[string]any
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// TestTLSOnBothLinks: the API and /replicate over TLS with mutual TLS on
// replication; a secondary that cannot verify the master, or presents no
// client certificate, stays out and says why; a rotated certificate is
// served after SIGHUP without a restart.
func TestTLSOnBothLinks(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "cluster")
	rogue := certstest.NewCA(t, dir, "rogue")
	mleaf, s1leaf, s1client := ca.Valid("master"), ca.Valid("s1"), ca.Valid("s1-client")

	m := addNode(t, newCluster(t), proc.Spec{Name: "master", TLS: tlsTo(t, ca), Env: []string{
		"TLS_CERT_FILE=" + mleaf.Cert, "TLS_KEY_FILE=" + mleaf.Key, "REPLICATION_CLIENT_CA_FILE=" + ca.File}})
	m.start()

	// The cluster dials a master with TLS over wss; s1 is ready once
	// connected, over TLS too.
	s1 := startIn(t, m, proc.Spec{Name: "s1", Role: proc.Secondary, TLS: tlsTo(t, ca), Env: []string{
		"MASTER_CA_FILE=" + ca.File,
		"REPLICATION_CLIENT_CERT_FILE=" + s1client.Cert, "REPLICATION_CLIENT_KEY_FILE=" + s1client.Key,
		"TLS_CERT_FILE=" + s1leaf.Cert, "TLS_KEY_FILE=" + s1leaf.Key}})

	resp, err := m.Client().Post(m.URL()+"/messages", "application/json", strings.NewReader(`{"message":"secret","writeConcern":2}`))
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || r.Acks != 2 {
		t.Fatalf("w=2 over TLS: %d %+v", resp.StatusCode, r)
	}
	if resp, err := http.Get("http://" + m.Addr + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the master serves plain HTTP with TLS on")
		}
	}

	// Verification is never skipped: a secondary trusting another CA.
	s2 := startDetached(t, "s2", m, "MASTER_CA_FILE="+rogue.File,
		"REPLICATION_CLIENT_CERT_FILE="+s1client.Cert, "REPLICATION_CLIENT_KEY_FILE="+s1client.Key)
	// A secondary without a client certificate.
	s3 := startDetached(t, "s3", m, "MASTER_CA_FILE="+ca.File)
	for _, c := range []struct {
		n    *node
		want string
	}{{s2, "certificate"}, {s3, "401"}} {
		poll.Check(t, 20*time.Second, func() error {
			h, err := getJSON[map[string]any](c.n.url() + "/health")
			if err != nil {
				return err
			}
			if h["master"] != "disconnected" || !strings.Contains(fmt.Sprint(h["masterError"]), c.want) {
				return fmt.Errorf("%s: master %v, masterError %q, want one about %q", c.n.name, h["master"], h["masterError"], c.want)
			}
			return nil
		})
	}
	h, err := tlsHealth(m)
	if err != nil {
		t.Fatal(err)
	}
	if secs, _ := h["secondaries"].([]any); len(secs) != 1 {
		t.Fatalf("the master lists %v, want s1 alone", h["secondaries"])
	}

	// Rotation: new files, SIGHUP, and new connections get the new one.
	rotated := ca.Valid("master")
	m.signal(syscall.SIGHUP)
	poll.Check(t, 10*time.Second, func() error {
		conn, err := tls.Dial("tcp", m.Addr, tlsTo(t, ca))
		if err != nil {
			return err
		}
		defer conn.Close()
		if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(rotated.Serial) != 0 {
			return fmt.Errorf("serving serial %s, want the rotated %s", got, rotated.Serial)
		}
		return nil
	})
	if !strings.Contains(m.logs.String(), "certificate reloaded") {
		t.Fatal("no log line for the reload")
	}
	if err := s1.Ready(); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
}

// TestTLSFilesCheckedAtStart: missing, unreadable, mismatched or expired
// files stop the binary with status 2 and one line naming the variable.
func TestTLSFilesCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "cluster")
	good, other := ca.Valid("good"), ca.Valid("other")
	expired := ca.Issue("old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	unreadable := dir + "/unreadable.pem"
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	master, secondary := binary(t, "master"), binary(t, "secondary")
	wss := "MASTER_URL=wss://localhost:1/replicate"
	cases := []struct {
		bin   string
		env   []string
		names string
	}{
		{master, []string{"TLS_CERT_FILE=" + dir + "/none.pem", "TLS_KEY_FILE=" + good.Key}, "TLS_CERT_FILE"},
		{master, []string{"TLS_CERT_FILE=" + good.Cert}, "TLS_KEY_FILE"},
		{master, []string{"TLS_CERT_FILE=" + good.Cert, "TLS_KEY_FILE=" + other.Key}, "TLS_KEY_FILE"},
		{master, []string{"TLS_CERT_FILE=" + expired.Cert, "TLS_KEY_FILE=" + expired.Key}, "TLS_CERT_FILE"},
		{master, []string{"REPLICATION_CLIENT_CA_FILE=" + ca.File}, "REPLICATION_CLIENT_CA_FILE"},
		{secondary, []string{"TLS_CERT_FILE=" + expired.Cert, "TLS_KEY_FILE=" + expired.Key}, "TLS_CERT_FILE"},
		{secondary, []string{wss, "MASTER_CA_FILE=" + good.Key}, "MASTER_CA_FILE"},
		{secondary, []string{wss, "REPLICATION_CLIENT_CERT_FILE=" + good.Cert, "REPLICATION_CLIENT_KEY_FILE=" + other.Key}, "REPLICATION_CLIENT_KEY_FILE"},
		{secondary, []string{"MASTER_CA_FILE=" + ca.File}, "MASTER_URL"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct {
			bin   string
			env   []string
			names string
		}{master, []string{"TLS_CERT_FILE=" + unreadable, "TLS_KEY_FILE=" + good.Key}, "TLS_CERT_FILE"})
	}
	for _, c := range cases {
		cmd := exec.Command(c.bin)
		cmd.Env = append(c.env, "HTTP_ADDR=127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() != 2 {
			t.Fatalf("%v: exit %v, want status 2; output %s", c.env, err, out)
		}
		if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 || !strings.Contains(string(out), c.names) {
			t.Fatalf("%v: want one line naming %s, got:\n%s", c.env, c.names, out)
		}
	}
}
