package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/replog/replog/shared/serve"
)

// stepDownCommand is `master step-down`, a master-capable pod's preStop
// hook: a leader about to stop hands its leadership to the most
// up-to-date healthy standby, so that writes pause for one switchover
// instead of a failover timeout.
var stepDownCommand = serve.Command{Name: "step-down", Run: stepDown,
	About: "hand leadership to the most up-to-date healthy standby before stopping (a preStop hook; always exits 0)"}

// Bounds of step-down: it must never hold a pod's deletion up for long.
const (
	stepDownHealthTimeout  = 3 * time.Second
	stepDownPromoteTimeout = 15 * time.Second
)

// nodeHealth is what step-down reads of a master-capable node's /health.
type nodeHealth struct {
	Role  string       `json:"role"` // master (leads) or standby
	Peers []peerHealth `json:"peers"`
}

// peerHealth is one master-capable peer as the leader sees it.
type peerHealth struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	State  string `json:"state"`
	LastID uint64 `json:"lastId"`
}

// promoted is POST /promote's answer.
type promoted struct {
	Leader struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	LastID uint64 `json:"lastId"`
	Error  string `json:"error"`
}

// successor is the standby a leader named self hands over to: a healthy
// one holding the most of the log (the fewest entries to catch up while
// writes wait), the first by name among equals; ok is false when there
// is none.
func successor(self string, peers []peerHealth) (best peerHealth, ok bool) {
	var healthy []peerHealth
	for _, p := range peers {
		if p.Name != self && p.URL != "" && (p.State == "healthy" || p.State == "ok") {
			healthy = append(healthy, p)
		}
	}
	if len(healthy) == 0 {
		return peerHealth{}, false
	}
	return slices.MinFunc(healthy, func(a, b peerHealth) int {
		return cmp.Or(cmp.Compare(b.LastID, a.LastID), strings.Compare(a.Name, b.Name))
	}), true
}

// stepDown runs step-down and says in one line on stderr what it did. It
// exits 0 whatever happened: a preStop hook that fails or hangs would
// only delay the pod's end, and a leader that stops without handing over
// is replaced by the failover it exists to shorten.
func stepDown(node serve.Node, _, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), stepDownHealthTimeout+stepDownPromoteTimeout)
	defer cancel()
	fmt.Fprintf(stderr, "master step-down: %s\n", handOver(ctx, node))
	return serve.ExitOK
}

// handOver asks the node whether it leads and, if so, promotes its
// successor; it returns what happened.
func handOver(ctx context.Context, node serve.Node) string {
	local, base, err := serve.LocalClient(node, stepDownHealthTimeout)
	if err != nil {
		return err.Error()
	}
	var h nodeHealth
	if err := getJSON(ctx, local, base+"/health", &h); err != nil {
		return fmt.Sprintf("read own /health: %v; stopping without a handover", err)
	}
	if h.Role != "master" {
		return fmt.Sprintf("%s is %s, not the leader: nothing to hand over", node.Name, h.Role)
	}
	next, ok := successor(node.Name, h.Peers)
	if !ok {
		return fmt.Sprintf("%s leads but no standby is healthy: stopping without a handover (a failover follows)", node.Name)
	}
	peers, err := serve.PeerClient(node, stepDownPromoteTimeout)
	if err != nil {
		return err.Error()
	}
	p, err := promote(ctx, peers, next.URL, node.Token)
	if err != nil {
		return fmt.Sprintf("promote %s (%s, lastId %d): %v; stopping anyway (a failover follows)", next.Name, next.URL, next.LastID, err)
	}
	return fmt.Sprintf("%s handed leadership to %s (epoch %d, lastId %d)", node.Name, p.Leader.Name, p.Epoch, p.LastID)
}

// promote asks the standby at url to take over and waits for its answer.
func promote(ctx context.Context, c *http.Client, url, token string) (promoted, error) {
	var p promoted
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/promote", nil)
	if err != nil {
		return p, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p)
	switch {
	case resp.StatusCode != http.StatusOK && p.Error != "":
		return p, fmt.Errorf("%s: %s", resp.Status, p.Error)
	case resp.StatusCode != http.StatusOK:
		return p, errors.New(resp.Status)
	case decodeErr != nil:
		return p, fmt.Errorf("read the answer: %w", decodeErr)
	}
	return p, nil
}

// getJSON GETs url and decodes its 200 JSON answer into v.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}
