package clustertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
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
	"write a PNG of the dashboard to this file (README's picture: -dashboard.screenshot=../../docs/dashboard.png)")

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
	if *dashboardShot != "" {
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
