package main

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/replog/replog/shared/certs/certstest"
)

func TestSuccessorIsTheHealthiestMostUpToDateStandby(t *testing.T) {
	m := func(name, state string, lastID uint64) peerHealth {
		return peerHealth{Name: name, URL: "http://" + name + ":8080", State: state, LastID: lastID}
	}
	for _, c := range []struct {
		name  string
		peers []peerHealth
		want  string // "" for none
	}{
		{"the highest lastId", []peerHealth{m("m2", "healthy", 5), m("m3", "healthy", 7)}, "m3"},
		{"healthy only", []peerHealth{m("m2", "healthy", 5), m("m3", "suspected", 7), m("m4", "unhealthy", 9)}, "m2"},
		{"the leader's own entry skipped", []peerHealth{m("m1", "healthy", 10), m("m2", "ok", 4)}, "m2"},
		{"first by name among equals", []peerHealth{m("m3", "healthy", 7), m("m2", "healthy", 7)}, "m2"},
		{"no URL, no promotion", []peerHealth{{Name: "m2", State: "healthy", LastID: 8}, m("m3", "healthy", 1)}, "m3"},
		{"none healthy", []peerHealth{m("m2", "unhealthy", 5)}, ""},
		{"no peers", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := successor("m1", c.peers)
			if (c.want == "") == ok || got.Name != c.want {
				t.Errorf("successor = %q, %v; want %q", got.Name, ok, c.want)
			}
		})
	}
}

// fakeNode is a master-capable node's /health and /promote, recording
// the promotions it is asked for.
type fakeNode struct {
	health  any // /health's answer
	status  int // /promote's status
	promote any // and answer

	mu     sync.Mutex
	asked  int
	bearer string
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		_ = json.NewEncoder(w).Encode(f.health)
	case r.Method == http.MethodPost && r.URL.Path == "/promote":
		f.mu.Lock()
		f.asked++
		f.bearer = r.Header.Get("Authorization")
		f.mu.Unlock()
		w.WriteHeader(f.status)
		_ = json.NewEncoder(w).Encode(f.promote)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNode) promotions() (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked, f.bearer
}

func leaderHealth(peers ...peerHealth) map[string]any {
	return map[string]any{"role": "master", "leader": map[string]string{"name": "m1", "url": "http://m1"}, "epoch": 3, "peers": peers}
}

func TestStepDown(t *testing.T) {
	m2 := &fakeNode{status: http.StatusOK, promote: map[string]any{"leader": map[string]string{"name": "m2"}, "epoch": 4, "lastId": 17}}
	m3 := &fakeNode{status: http.StatusServiceUnavailable, promote: map[string]string{"error": "not caught up"}}
	s2, s3 := httptest.NewServer(m2), httptest.NewServer(m3)
	defer s2.Close()
	defer s3.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, c := range []struct {
		name   string
		health any
		asked  *fakeNode // the standby asked to take over, nil for none
		line   string    // in the line on stderr
	}{
		{"a standby hands nothing over", map[string]any{"role": "standby", "epoch": 3, "peers": []peerHealth{{Name: "m2", URL: s2.URL, State: "healthy"}}},
			nil, "m1 is standby, not the leader"},
		{"a leader promotes its best standby", leaderHealth(peerHealth{"m2", s2.URL, "healthy", 17}, peerHealth{"m3", s3.URL, "unhealthy", 20}),
			m2, "m1 handed leadership to m2 (epoch 4, lastId 17)"},
		{"a refused promotion still exits 0", leaderHealth(peerHealth{"m2", s2.URL, "healthy", 1}, peerHealth{"m3", s3.URL, "healthy", 2}),
			m3, "promote m3 (" + s3.URL + ", lastId 2): 503 Service Unavailable: not caught up; stopping anyway"},
		{"no healthy standby", leaderHealth(peerHealth{"m3", s3.URL, "suspected", 2}), nil, "no standby is healthy"},
		{"an unreachable standby", leaderHealth(peerHealth{"m2", closed.URL, "healthy", 1}), nil, "promote m2 (" + closed.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			before2, _ := m2.promotions()
			before3, _ := m3.promotions()
			self := httptest.NewServer(&fakeNode{health: c.health})
			defer self.Close()
			status, _, errOut := exec(t, []string{"NODE_NAME=m1", "HTTP_ADDR=" + self.Listener.Addr().String(), "REPLICATION_TOKEN=s3cret"}, "step-down")
			if status != 0 || !strings.Contains(errOut, c.line) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("status %d, stderr %q; want 0 and one line with %q", status, errOut, c.line)
			}
			after2, bearer2 := m2.promotions()
			after3, bearer3 := m3.promotions()
			asked := map[*fakeNode]int{m2: after2 - before2, m3: after3 - before3}
			for f, n := range asked {
				if want := map[bool]int{true: 1}[f == c.asked]; n != want {
					t.Errorf("%d promotions of %s, want %d", n, map[*fakeNode]string{m2: "m2", m3: "m3"}[f], want)
				}
			}
			if c.asked != nil && map[*fakeNode]string{m2: bearer2, m3: bearer3}[c.asked] != "Bearer s3cret" {
				t.Errorf("promoted without REPLICATION_TOKEN: %q", map[*fakeNode]string{m2: bearer2, m3: bearer3}[c.asked])
			}
		})
	}
	t.Run("its own node down", func(t *testing.T) {
		status, _, errOut := exec(t, []string{"NODE_NAME=m1", "HTTP_ADDR=" + strings.TrimPrefix(closed.URL, "http://")}, "step-down")
		if status != 0 || !strings.Contains(errOut, "read own /health") {
			t.Errorf("status %d, stderr %q", status, errOut)
		}
	})
}

// TestStepDownOverTLS: over TLS, step-down trusts the certificate of
// TLS_CERT_FILE, both on its own node (by 127.0.0.1) and on the standby
// it promotes (by its name), and no other.
func TestStepDownOverTLS(t *testing.T) {
	leaf := certstest.NewCA(t, t.TempDir(), "replog").Valid("m2.peers.test")
	other := certstest.NewCA(t, t.TempDir(), "other").Valid("m2.peers.test") // files of the same names
	serveTLS := func(h http.Handler, l certstest.Leaf) *httptest.Server {
		cert, err := tls.LoadX509KeyPair(l.Cert, l.Key)
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewUnstartedServer(h)
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.StartTLS()
		return s
	}
	for _, c := range []struct {
		name     string
		standby  certstest.Leaf
		promoted bool
		line     string
	}{
		{"the same certificate", leaf, true, "handed leadership to m2"},
		{"another CA's", other, false, "certificate signed by unknown authority"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m2 := &fakeNode{status: http.StatusOK, promote: map[string]any{"leader": map[string]string{"name": "m2"}, "epoch": 2, "lastId": 5}}
			s2 := serveTLS(m2, c.standby)
			defer s2.Close()
			_, port, _ := net.SplitHostPort(s2.Listener.Addr().String())
			url := "https://localhost:" + port // a name of the certificate, as a pod's stable name would be
			self := serveTLS(&fakeNode{health: leaderHealth(peerHealth{"m2", url, "healthy", 5})}, leaf)
			defer self.Close()
			status, _, errOut := exec(t, []string{"NODE_NAME=m1", "HTTP_ADDR=" + self.Listener.Addr().String(),
				"TLS_CERT_FILE=" + leaf.Cert, "TLS_KEY_FILE=" + leaf.Key}, "step-down")
			if n, _ := m2.promotions(); status != 0 || (n == 1) != c.promoted || !strings.Contains(errOut, c.line) {
				t.Errorf("status %d, %d promotions, stderr %q; want %q", status, n, errOut, c.line)
			}
		})
	}
}
