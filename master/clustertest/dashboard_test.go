package clustertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/replog/replog/shared/poll"
)

var dashboardShot = flag.String("dashboard.screenshot", "",
	"write a PNG of the dashboard with ten secondaries to this file (README's picture: -dashboard.screenshot=../../docs/dashboard.png)")

// chromium finds a headless-capable Chromium, or skips (outside CI; under
// CI=true, which installs it, a missing browser fails the test).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found; CI installs Debian's chromium for the dashboard test")
	}
	t.Skip("no Chromium found (apt-get install chromium); skipping the dashboard's browser test")
	return ""
}

// browser is a headless Chromium page that records every console error,
// uncaught exception and failed request.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.WindowSize(1400, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// Listen starts the browser, on a context without a timeout, as the
	// first call must be (a timeout there would stop the whole browser).
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				msg = "console error: " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "uncaught exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *network.EventLoadingFailed:
			if !e.Canceled {
				msg = "request failed: " + e.ErrorText
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// shows waits until the page shows secondary name in state.
func (b *browser) shows(name, state string, timeout time.Duration) {
	b.t.Helper()
	js := fmt.Sprintf(`(document.querySelector('tr[data-secondary=%q] .state') || {}).textContent || ""`, name)
	poll.Check(b.t, timeout, func() error {
		got, err := eval[string](b, js)
		if err != nil {
			return err
		}
		if got != state {
			return fmt.Errorf("the page shows %s as %q, want %q", name, got, state)
		}
		return nil
	})
}

func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		b.t.Fatalf("the page had errors:\n%s", strings.Join(b.errors, "\n"))
	}
}

// TestDashboard drives the master's dashboard in a real browser against a
// real cluster: it loads without errors, shows both secondaries healthy,
// a w=3 append from the form answers 201 with its matrix row filled on
// every node, a paused secondary turns suspected and then unhealthy on the
// page, and it heals once resumed.
func TestDashboard(t *testing.T) {
	b := newBrowser(t)
	m := startMaster(t, "CLUSTER_SIZE=3", "HEARTBEAT_INTERVAL=500ms", "FAULTS_API=true")
	s1 := startSecondary(t, "s1", m, "FAULTS_API=true")
	startSecondary(t, "s2", m, "FAULTS_API=true")
	for i := range 5 {
		appendMsg(t, m, fmt.Sprintf("before-%d", i), 1+i%3)
	}

	b.do(chromedp.Navigate(m.url() + "/"))
	b.shows("s1", "healthy", 10*time.Second)
	b.shows("s2", "healthy", 10*time.Second)

	b.do(
		chromedp.SetValue(chromedp.ID("message"), "from-the-browser"),
		chromedp.SetValue(chromedp.ID("wc"), "3"),
		chromedp.Click(chromedp.ID("append-button")),
	)
	poll.Check(t, 10*time.Second, func() error {
		status, err := eval[string](b, `(document.getElementById("append-status") || {}).textContent || ""`)
		if err != nil {
			return err
		}
		if status != "201" {
			return fmt.Errorf("the form shows status %q", status)
		}
		return nil
	})
	poll.Check(t, 10*time.Second, func() error {
		js := `(() => { const row = [...document.querySelectorAll('#matrix tbody tr')]
			.find((r) => r.children[1].textContent === "from-the-browser");
			return row ? [...row.querySelectorAll("td.cell")].map((c) => c.classList.contains("held")) : []; })()`
		cells, err := eval[[]bool](b, js)
		if err != nil {
			return err
		}
		if len(cells) != 3 || !cells[0] || !cells[1] || !cells[2] {
			return fmt.Errorf("the matrix row of the w=3 append: %v, want three filled cells", cells)
		}
		return nil
	})
	// The w=3 append, id 6, is on a majority of CLUSTER_SIZE: committed.
	b.text(`document.getElementById("commit-box").hidden ? "hidden" : document.getElementById("commit-id").textContent`,
		10*time.Second, equals("6"))

	s1.signal(syscall.SIGSTOP)
	b.shows("s1", "suspected", 10*time.Second)
	b.shows("s1", "unhealthy", 10*time.Second)
	s1.signal(syscall.SIGCONT)
	b.shows("s1", "healthy", 10*time.Second)
	b.noErrors()
}

// TestDashboardFaultButtons: the page's fault buttons change a
// secondary's faults through the master, and heal undoes them.
func TestDashboardFaultButtons(t *testing.T) {
	b := newBrowser(t)
	m := startMaster(t, "CLUSTER_SIZE=3", "HEARTBEAT_INTERVAL=500ms", "FAULTS_API=true")
	s1 := startSecondary(t, "s1", m, "FAULTS_API=true")
	b.do(chromedp.Navigate(m.url() + "/"))
	b.shows("s1", "healthy", 10*time.Second)
	click := func(label string) {
		b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-secondary="s1"] button[data-fault=%q]`, label))))
	}
	faultsOf := func(want string) {
		poll.Check(t, 10*time.Second, func() error {
			h, err := getJSON[map[string]any](s1.url() + "/health")
			if err != nil {
				return err
			}
			if got := fmt.Sprint(h["faults"]); got != want {
				return fmt.Errorf("s1's faults %s, want %s", got, want)
			}
			return nil
		})
	}
	click("cut off")
	faultsOf("map[cutOff:true failRate:0 replicationDelay:0]")
	b.shows("s1", "unhealthy", 10*time.Second)
	click("heal")
	faultsOf("map[cutOff:false failRate:0 replicationDelay:0]")
	b.shows("s1", "healthy", 10*time.Second)
	click("slow")
	faultsOf("map[cutOff:false failRate:0 replicationDelay:1s-2s]")
	b.noErrors()
}

// TestDashboardTenSecondaries: the page of a cluster scaled to ten
// secondaries named as compose names them (container ids), one of them
// replaced: the page never scrolls sideways, wide or narrow; the replaced
// one is shown gone, apart; the sparklines hold the minute before the
// page opened; the latencies read in a unit that suits them.
func TestDashboardTenSecondaries(t *testing.T) {
	b := newBrowser(t)
	m := startMaster(t, "CLUSTER_SIZE=11", "HEARTBEAT_INTERVAL=500ms")
	const replaced = "5c0ffee0a1b2"
	startSecondary(t, replaced, m).kill()
	names := []string{"3f2a9c1b7d4e", "a81c07e2f5d9", "0d9e4b7a2c61", "e4b7c2a9013f", "7c1e9a3b5d2f",
		"b2d4f6a8c0e1", "19af3c7e8b24", "c6e8a0b2d4f7", "58d1b3f5a7c9", "f0a2c4e6b8d3"}
	for i, name := range names {
		var env []string
		if i >= 8 { // two slow ones, so the lag has a shape
			env = append(env, "REPLICATION_DELAY=150ms-400ms")
		}
		startSecondary(t, name, m, env...)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // a steady trickle of appends, some waiting for every node
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		untilStopped(stop, func(i int) bool {
			if r := appendMsg(t, m, fmt.Sprintf("order-%d shipped to warehouse %d", i, i%7), 1+(i%4)*(i%4)); r.Status != 201 {
				t.Errorf("append: %+v", r)
				return false
			}
			select {
			case <-tick.C:
			case <-stop:
			}
			return true
		})
	})
	defer wg.Wait()
	defer close(stop)

	// The master keeps the lags from before the page opens: wait until
	// it holds ten seconds of them.
	poll.Check(t, 30*time.Second, func() error {
		h, err := getJSON[struct {
			Lags map[string][][2]int64 `json:"lags"`
		}](m.url() + "/dashboard/history")
		if err != nil {
			return err
		}
		if _, ok := h.Lags[replaced]; ok {
			return fmt.Errorf("the replaced secondary is in the lag history")
		}
		if n := len(h.Lags[names[9]]); n < 10 {
			return fmt.Errorf("%d samples of %s's lag", n, names[9])
		}
		return nil
	})

	b.do(chromedp.Navigate(m.url() + "/"))
	b.shows(names[9], "healthy", 10*time.Second)
	// How old the oldest point of a sparkline is, and how long the page
	// has been open: without the master's history the first cannot
	// exceed the second.
	type spark struct{ OldestMs, OpenMs float64 }
	got, err := eval[spark](b, fmt.Sprintf(`(() => {
		const line = document.querySelector('tr[data-secondary=%q] svg.spark polyline');
		const xs = line.getAttribute("points").trim().split(" ").map((p) => Number(p.split(",")[0]));
		return {oldestMs: (1 - Math.min(...xs) / 120) * 60000, openMs: performance.now()};
	})()`, names[9]))
	if err != nil {
		t.Fatal(err)
	}
	if got.OldestMs < got.OpenMs+5000 {
		t.Errorf("on first load the sparkline goes back %.0f ms, the page has been open %.0f ms: it holds no history",
			got.OldestMs, got.OpenMs)
	}
	for _, name := range names {
		b.shows(name, "healthy", 10*time.Second)
	}
	b.shows(replaced, "gone", 10*time.Second)
	inGone, err := eval[bool](b, fmt.Sprintf(`!!document.querySelector('tbody#gone tr[data-secondary=%q]')`, replaced))
	if err != nil || !inGone {
		t.Errorf("the replaced secondary is not in the gone group (%v)", err)
	}
	columns, err := eval[int](b, `document.querySelectorAll("#matrix thead th.node").length`)
	if err != nil || columns != 11 {
		t.Errorf("the matrix has %d node columns (%v), want the master and ten secondaries", columns, err)
	}

	formats, err := eval[[]string](b, `[13363.82, 2.349, 0.18, 999.7, 0.05, 0].map(fmtDuration)`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"13.4 s", "2.35 ms", "180 µs", "1.00 s", "50.0 µs", "–"}; !slices.Equal(formats, want) {
		t.Errorf("fmtDuration: %q, want %q", formats, want)
	}
	poll.Check(t, 10*time.Second, func() error {
		p99, err := eval[string](b, `document.getElementById("p99").textContent`)
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`^\d{1,3}(\.\d{1,2})? (s|ms|µs)$`).MatchString(p99) {
			return fmt.Errorf("p99 reads %q", p99)
		}
		return nil
	})

	b.noSidewaysScroll()
	if *dashboardShot != "" {
		b.do(chromedp.EmulateViewport(1400, 900))
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(*dashboardShot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.noErrors()
}
