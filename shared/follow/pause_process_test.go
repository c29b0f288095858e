package follow

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/frame/frametest"
	"github.com/replog/replog/shared/logging"
	"github.com/replog/replog/shared/store"
)

// secondaryProcessEnv, set to a master's URL, makes the test binary a
// secondary's process following that master (TestMain), so that a test
// can pause it with SIGSTOP. reconnectAfterEnv is its ReconnectAfterPause.
const (
	secondaryProcessEnv = "REPLOG_TEST_SECONDARY_OF"
	reconnectAfterEnv   = "REPLOG_TEST_RECONNECT_AFTER"
)

func runSecondaryProcess(url string) {
	reconnect, _ := time.ParseDuration(os.Getenv(reconnectAfterEnv))
	log, err := logging.New("s1", "info", "json")
	if err != nil {
		panic(err)
	}
	opts := Options{ReconnectAfterPause: reconnect, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	New(Config{URLs: []string{url}, Name: "s1", Store: store.NewMemory(""), Log: log, Options: opts}).Run(context.Background()) // until killed
}

// output is a child's stderr, read while it writes.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestPausedSecondaryBlamesItself: a secondary stopped (SIGSTOP) for
// longer than its silence window and then continued finds its deadline
// run out at once. It says that it was away instead of blaming the
// master, and reads on on the same connection; away for longer than
// ReconnectAfterPause, it says so and redials. The master sends nothing
// during the pause, so that nothing waits to be read when the secondary
// resumes: the deadline runs out every time, not only when the timer wins
// the race with the socket.
func TestPausedSecondaryBlamesItself(t *testing.T) {
	for _, c := range []struct {
		name           string
		reconnectAfter string
		want           string
	}{
		{"short: reads on", "1m", "this process was paused or the machine slept; reading on"},
		{"long: redials", "500ms", "this process was paused or the machine slept; reconnecting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fm := frametest.Listen(t)
			var stderr output
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), secondaryProcessEnv+"="+fm.URL, reconnectAfterEnv+"="+c.reconnectAfter)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				if strings.Contains(stderr.String(), "DATA RACE") {
					t.Errorf("the secondary's process:\n%s", stderr.String())
				}
			})
			conn, _ := fm.Accept()
			w := welcome("L", 1)
			w.HeartbeatMs = 200 // silent after 800 ms
			conn.Send(w)
			heartbeat := func(id uint64) {
				t.Helper()
				conn.Send(frame.Frame{Type: frame.TypeHeartbeat, ID: id})
				if hb, err := conn.ReadAny(); err != nil || hb.Type != frame.TypeHeartbeat || hb.ID != id {
					t.Fatalf("heartbeat %d answered with %+v %v", id, hb, err)
				}
			}
			heartbeat(1)
			// Stopped before its reader has armed the next read's deadline, it
			// would arm a whole silence window after resuming, in which this
			// master says nothing: rightly the master's silence then.
			waitIdle(t, cmd.Process.Pid)
			if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // the pause under test, not a wait for the secondary
			if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(stderr.String(), c.want) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q from the secondary in 10 s:\n%s", c.want, stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if c.reconnectAfter == "1m" {
				heartbeat(2) // the same connection, still followed
			} else if _, hello := fm.Accept(); hello.Name != "s1" {
				t.Fatalf("hello after the pause %+v", hello)
			}
			if strings.Contains(stderr.String(), "master silent") {
				t.Fatalf("the secondary blamed the master for its own pause:\n%s", stderr.String())
			}
		})
	}
}

// waitIdle waits until every thread of process pid sleeps, twice in a
// row: then no goroutine of it is running or runnable, and its reader
// waits in a Read, deadline armed.
func waitIdle(t *testing.T, pid int) {
	t.Helper()
	tasks := fmt.Sprintf("/proc/%d/task", pid)
	if _, err := os.Stat(tasks); err != nil {
		t.Skipf("no %s to tell when the process is idle (Linux only): %v", tasks, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for idle := 0; idle < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the secondary's process is still busy after 10 s")
		}
		idle++
		dirs, _ := os.ReadDir(tasks)
		for _, d := range dirs {
			stat, err := os.ReadFile(filepath.Join(tasks, d.Name(), "stat"))
			_, after, ok := strings.Cut(string(stat), ") ")
			if err == nil && ok && !strings.HasPrefix(after, "S") {
				idle = 0
			}
		}
		time.Sleep(time.Millisecond) // between samples
	}
}
