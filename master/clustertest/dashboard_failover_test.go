package clustertest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/replog/replog/shared/httpapi/openapitest"
	"github.com/replog/replog/shared/poll"
)

// text waits until js, evaluated on the page, is what ok accepts, and
// returns it.
func (b *browser) text(js string, timeout time.Duration, ok func(string) error) string {
	b.t.Helper()
	var got string
	poll.Check(b.t, timeout, func() error {
		var err error
		if got, err = eval[string](b, js); err != nil {
			return err
		}
		return ok(got)
	})
	return got
}

func equals(want string) func(string) error {
	return func(got string) error {
		if got != want {
			return fmt.Errorf("the page shows %q, want %q", got, want)
		}
		return nil
	}
}

const (
	leaderJS = `document.getElementById("leader").textContent`
	epochJS  = `document.getElementById("epoch").textContent`
	columnJS = `[...document.querySelectorAll("#matrix thead th.node")].map((th) => th.dataset.node)`
)

// nodeCell is the text of a cell of the master-capable nodes' table.
func nodeCell(name, selector string) string {
	return fmt.Sprintf(`(document.querySelector('#nodes tr[data-node=%q] %s') || {}).textContent || ""`, name, selector)
}

// noSidewaysScroll checks, at several widths, that the page never
// scrolls sideways.
func (b *browser) noSidewaysScroll() {
	b.t.Helper()
	for _, width := range []int64{1400, 1000, 720} {
		b.do(chromedp.EmulateViewport(width, 900))
		poll.Check(b.t, 5*time.Second, func() error {
			w, err := eval[[]int](b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
			if err != nil {
				return err
			}
			if w[0] > w[1] {
				return fmt.Errorf("at %d px the page scrolls sideways: %d px wide in %d", width, w[0], w[1])
			}
			return nil
		})
	}
}

// TestDashboardFailoverSeenFromAStandby opens the page a standby serves:
// it names the leader and its epoch, shows every node as a matrix column
// and the standbys as the leader sees them; the leader is killed, and the
// page, from the standby alone, shows the new leader in a later epoch,
// its "leading" event, and the old leader unreachable.
func TestDashboardFailoverSeenFromAStandby(t *testing.T) {
	b := newBrowser(t)
	fc := startFailover(t, 3, 1)
	leader := fc.leader()
	standby := fc.standby(leader)
	if r := appendMsg(t, leader, "held by all four", 4); r.Status != 201 {
		t.Fatalf("append at w=4: %+v", r)
	}

	b.do(chromedp.Navigate(standby.url() + "/"))
	b.text(leaderJS, 10*time.Second, equals(leader.name))
	epoch, err := strconv.Atoi(b.text(epochJS, 10*time.Second, func(string) error { return nil }))
	if err != nil {
		t.Fatalf("the page's epoch: %v", err)
	}
	b.text(nodeCell(standby.name, ".name"), 10*time.Second, equals(standby.name+" ◂ this page"))
	b.text(nodeCell(leader.name, ".role"), 10*time.Second, equals("master"))
	for _, m := range fc.masters {
		if m != leader {
			b.text(nodeCell(m.name, ".role"), 10*time.Second, equals("standby"))
			b.text(nodeCell(m.name, ".health"), 10*time.Second, equals("healthy"))
		}
	}
	poll.Check(t, 10*time.Second, func() error {
		cols, err := eval[[]string](b, columnJS)
		if err != nil {
			return err
		}
		want := []string{"m1", "m2", "m3", "s1"}
		got := slices.Sorted(slices.Values(cols))
		if !slices.Equal(got, want) || cols[0] != leader.name {
			return fmt.Errorf("the matrix's columns %q, want the leader %s first, then every other node of %q", cols, leader.name, want)
		}
		held, err := eval[[]bool](b, `[...document.querySelectorAll('#matrix tbody tr[data-id="1"] td.cell')].map((c) => c.classList.contains("held"))`)
		if err != nil {
			return err
		}
		if !slices.Equal(held, []bool{true, true, true, true}) {
			return fmt.Errorf("the w=4 message's row %v, want every cell filled", held)
		}
		return nil
	})
	checkNodeRoutes(t, standby, leader.name)
	buttons, err := eval[[]string](b, `[...document.querySelectorAll("#nodes button[data-promote]")].map((x) => x.dataset.promote)`)
	if err != nil || len(buttons) != 2 || slices.Contains(buttons, leader.name) {
		t.Fatalf("promote buttons for %q (%v), want one per standby, none for the leader %s", buttons, err, leader.name)
	}

	before := map[string]int{} // failovers each node took over by before the kill
	for _, m := range fc.masters {
		before[m.name] = failovers(b.text(nodeCell(m.name, ".promotions"), 10*time.Second, func(string) error { return nil }))
	}
	leader.kill()
	next := fc.leader(leader).name
	b.text(leaderJS, 20*time.Second, equals(next))
	b.text(epochJS, 10*time.Second, func(got string) error {
		if e, _ := strconv.Atoi(got); e <= epoch {
			return fmt.Errorf("epoch %q, want more than %d", got, epoch)
		}
		return nil
	})
	b.text(nodeCell(leader.name, ".role"), 10*time.Second, equals("unreachable"))
	b.text(nodeCell(next, ".promotions"), 10*time.Second, func(got string) error {
		if n := failovers(got); n <= before[next] {
			return fmt.Errorf("%s took over by %d failovers (%q), and %d before the kill", next, n, got, before[next])
		}
		return nil
	})
	if code := nodeStateStatus(t, standby, leader.name); code != http.StatusBadGateway {
		t.Errorf("the killed leader's state through %s: %d, want 502", standby.name, code)
	}
	b.text(fmt.Sprintf(`[...document.querySelectorAll('#events div[data-kind="leading"]')].map((d) => d.textContent).join("\n")`),
		10*time.Second, func(got string) error {
			if want := fmt.Sprintf("[%s] leading %s: leads epoch", next, next); !strings.Contains(got, want) {
				return fmt.Errorf("the events %q hold no line with %q", got, want)
			}
			return nil
		})
	b.noErrors()
}

// TestDashboardPromote: the page a standby serves promotes another
// standby, through its own node, with the REPLICATION_TOKEN typed in:
// refused without it (the node promoted checks it), a switchover with
// it, which the page then shows, with the old leader's stepped-down
// event; then it promotes the node that serves it.
func TestDashboardPromote(t *testing.T) {
	b := newBrowser(t)
	fc := startFailover(t, 3, 0, "REPLICATION_TOKEN=open-sesame")
	leader := fc.leader()
	page := fc.standby(leader)
	var target *node
	for _, m := range fc.masters {
		if m != leader && m != page {
			target = m
		}
	}
	b.do(chromedp.Navigate(page.url() + "/"))
	b.text(leaderJS, 10*time.Second, equals(leader.name))
	promote := chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nodes button[data-promote=%q]`, target.name)))
	status := `(document.getElementById("promote-status") || {}).textContent || ""`

	b.do(promote)
	b.text(status, 10*time.Second, equals("401"))
	b.do(chromedp.SetValue(chromedp.ID("token"), "open-sesame"), promote)
	b.text(status, 20*time.Second, equals("200"))
	b.text(leaderJS, 10*time.Second, equals(target.name))
	b.text(nodeCell(target.name, ".promotions"), 10*time.Second, func(got string) error {
		if !strings.HasSuffix(got, "1 switchover") { // it may have led by a failover in the first elections
			return fmt.Errorf("%s took over %q, want by 1 switchover", target.name, got)
		}
		return nil
	})
	if got := fc.leader(); got != target {
		t.Errorf("the nodes name %s the leader after the page promoted %s", got.name, target.name)
	}
	b.text(nodeCell(leader.name, ".role"), 10*time.Second, equals("standby"))
	b.text(`[...document.querySelectorAll('#events div[data-kind="stepped-down"]')].map((d) => d.textContent).join("\n")`,
		10*time.Second, func(got string) error {
			if want := fmt.Sprintf("[%s] stepped-down %s", leader.name, leader.name); !strings.Contains(got, want) {
				return fmt.Errorf("the events %q hold no line with %q", got, want)
			}
			return nil
		})

	// The node that served the page promotes itself.
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nodes button[data-promote=%q]`, page.name))))
	b.text(leaderJS, 20*time.Second, equals(page.name))
	if got := fc.leader(); got != page {
		t.Errorf("the nodes name %s the leader after the page's node promoted itself", got.name)
	}
	b.noErrors()
}

// TestDashboardFailoverTenSecondaries: three master-capable nodes and
// ten secondaries on the page a standby serves: thirteen matrix
// columns, and the page never scrolls sideways.
func TestDashboardFailoverTenSecondaries(t *testing.T) {
	b := newBrowser(t)
	// Thirteen race-built processes take a while to start on a small
	// machine: a secondary started after the first election would be
	// refused its CLUSTER_STATE=new, so that election waits longer.
	fc := startFailover(t, 3, 10, "FAILOVER_TIMEOUT=8s")
	leader := fc.leader()
	if r := appendMsg(t, leader, "to every node", 13); r.Status != 201 {
		t.Fatalf("append at w=13: %+v", r)
	}
	// The leader keeps the lags from before the page opens: wait until
	// it holds ten seconds of them.
	poll.Check(t, 30*time.Second, func() error {
		h, err := getJSON[struct {
			Lags map[string][][2]int64 `json:"lags"`
		}](leader.url() + "/dashboard/history")
		if err != nil {
			return err
		}
		if n := len(h.Lags["s10"]); n < 10 {
			return fmt.Errorf("%d samples of s10's lag", n)
		}
		return nil
	})
	b.do(chromedp.Navigate(fc.standby(leader).url() + "/"))
	b.text(leaderJS, 10*time.Second, equals(leader.name))
	b.shows("s10", "healthy", 10*time.Second)
	// A standby's page loads the leader's history, through its node.
	type spark struct{ OldestMs, OpenMs float64 }
	got, err := eval[spark](b, `(() => {
		const line = document.querySelector('tr[data-secondary="s10"] svg.spark polyline');
		const xs = line.getAttribute("points").trim().split(" ").map((p) => Number(p.split(",")[0]));
		return {oldestMs: (1 - Math.min(...xs) / 120) * 60000, openMs: performance.now()};
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	if got.OldestMs < got.OpenMs+5000 {
		t.Errorf("on first load s10's sparkline goes back %.0f ms, the page has been open %.0f ms: it holds no history",
			got.OldestMs, got.OpenMs)
	}
	poll.Check(t, 10*time.Second, func() error {
		cols, err := eval[[]string](b, columnJS)
		if err != nil {
			return err
		}
		if len(cols) != 13 {
			return fmt.Errorf("the matrix's columns %q, want 13", cols)
		}
		return nil
	})
	for _, s := range fc.secondaries {
		b.shows(s.name, "healthy", 10*time.Second)
	}
	b.noSidewaysScroll()
	if *failoverShot != "" {
		b.do(chromedp.EmulateViewport(1400, 900))
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(*failoverShot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.noErrors()
}

var failoverShot = flag.String("dashboard.failover-screenshot", "",
	"write a PNG of a standby's dashboard with three master-capable nodes and ten secondaries to this file (README's picture: -dashboard.failover-screenshot=../../docs/dashboard-failover.png)")

// checkNodeRoutes reads the leader's state through a standby, as the
// page does, with every reply checked against docs/openapi.yaml.
func checkNodeRoutes(t *testing.T, via *node, leader string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: openapitest.Transport(t, nil)}
	for _, tc := range []struct{ name, wantNode string }{{leader, leader}, {via.name, via.name}} {
		resp, err := c.Get(via.url() + "/dashboard/nodes/" + tc.name + "/state")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Node string `json:"node"`
			Role string `json:"role"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || st.Node != tc.wantNode {
			t.Errorf("GET /dashboard/nodes/%s/state on %s: %d %+v (%v), want 200 from %s", tc.name, via.name, resp.StatusCode, st, err, tc.wantNode)
		}
	}
	if code := nodeStateStatus(t, via, "nobody"); code != http.StatusNotFound {
		t.Errorf("a node PEERS does not name: %d, want 404", code)
	}
}

func nodeStateStatus(t *testing.T, via *node, name string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: openapitest.Transport(t, nil)}
	resp, err := c.Get(via.url() + "/dashboard/nodes/" + name + "/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDashboardRollbackSeen: a leader appends a message no other node
// holds (the others are paused, then killed before they read it), and
// is paused itself; the others restart and elect a new leader; the old
// one resumes, follows it, and rolls that message back, which the page a
// standby serves shows, in the old leader's row and as an event.
func TestDashboardRollbackSeen(t *testing.T) {
	b := newBrowser(t)
	fc := startFailover(t, 3, 1)
	old := fc.leader()
	watcher := fc.standby(old)
	if r := appendMsg(t, old, "held by all four", 4); r.Status != http.StatusCreated {
		t.Fatalf("append at w=4: %+v", r)
	}
	b.do(chromedp.Navigate(watcher.url() + "/"))
	b.text(leaderJS, 10*time.Second, equals(old.name))
	b.text(nodeCell(old.name, ".rolled"), 10*time.Second, equals("0"))
	b.text(`document.getElementById("commit-box").hidden ? "hidden" : document.getElementById("commit-id").textContent`,
		10*time.Second, equals("1"))

	b.do(chromedp.Navigate("about:blank")) // its node is about to be killed: a failed poll would be a page error
	others := append(fc.without(old), fc.secondaries...)
	for _, n := range others {
		n.signal(syscall.SIGSTOP)
	}
	// The paused nodes still look healthy to the leader for a few
	// heartbeats: it appends, and waits in vain for the write concern.
	r := appendMsgTimeout(t, old, "only on the old leader", 4, 200)
	if r.Status != http.StatusGatewayTimeout || r.ID != 2 {
		t.Fatalf("append to the leader of paused nodes: %+v, want a 504 for id 2", r)
	}
	old.signal(syscall.SIGSTOP)
	for _, n := range others {
		n.kill() // what their sockets held unread is lost with them
		n.start()
	}
	next := fc.leader(old)
	if l := mustLogOf(t, next); len(l) != 1 {
		t.Fatalf("the new leader %s holds %d messages, want only the first: nothing to roll back", next.name, len(l))
	}
	b.do(chromedp.Navigate(watcher.url() + "/")) // open again on the restarted node
	b.text(leaderJS, 20*time.Second, equals(next.name))
	old.signal(syscall.SIGCONT)
	b.text(nodeCell(old.name, ".role"), 20*time.Second, equals("standby"))
	b.text(nodeCell(old.name, ".rolled"), 20*time.Second, equals("1"))
	b.text(`[...document.querySelectorAll('#events div[data-kind="rolled-back"]')].map((d) => d.textContent).join("\n")`,
		10*time.Second, func(got string) error {
			if want := fmt.Sprintf("rolled-back %s: 1 message ", old.name); !strings.Contains(got, want) {
				return fmt.Errorf("the events %q hold no line with %q", got, want)
			}
			return nil
		})
	b.noErrors()
}

func appendMsgTimeout(t *testing.T, n *node, msg string, w, timeoutMs int) reply {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"message": msg, "writeConcern": w, "timeoutMs": timeoutMs})
	return post(t, n, string(body))
}

// failovers reads how many failovers a node came to lead by from the
// page's "took over" cell ("2 failovers, 1 switchover").
func failovers(cell string) int {
	m := regexp.MustCompile(`(\d+) failovers?`).FindStringSubmatch(cell)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
