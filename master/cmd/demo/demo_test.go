package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/master/internal/proc"
)

func TestPace(t *testing.T) {
	for _, tc := range []struct {
		name, step string
		tty        bool
		want       time.Duration
		bad        bool
	}{
		{"a terminal by default", "", true, time.Second, false},
		{"piped by default (CI)", "", false, 0, false},
		{"DEMO_STEP on a terminal", "0", true, 0, false},
		{"DEMO_STEP piped", "2s", false, 2 * time.Second, false},
		{"not a duration", "fast", true, 0, true},
		{"negative", "-1s", false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := paceFrom(tc.step, tc.tty)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("paceFrom(%q, %v) = %s, %v; want %s, error %v", tc.step, tc.tty, got, err, tc.want, tc.bad)
			}
			if err != nil && !strings.Contains(err.Error(), "DEMO_STEP") {
				t.Fatalf("the error does not name DEMO_STEP: %v", err)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	d := &demo{start: time.Unix(100, 0)}
	if got := d.stamp(time.Unix(101, 234e6)); got != "+1.234s" {
		t.Fatalf("stamp = %q, want +1.234s", got)
	}
}

// TestWaitingWriteEndsM3OnEarlyReturn: when a step after m3 fails, m3's
// request (which would wait for ever) is ended and its goroutine done by
// the time waitingWrite returns.
func TestWaitingWriteEndsM3OnEarlyReturn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // S1 holds m3
			fmt.Fprint(w, `{"messages":[{"message":"m1"},{"message":"m2"},{"message":"m3"}]}`)
			return
		}
		if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), `"m3"`) {
			<-r.Context().Done() // w=3 with one secondary: no answer
			return
		}
		w.WriteHeader(http.StatusInternalServerError) // m4 fails
		fmt.Fprint(w, `{"error":"broken"}`)
	}))
	defer srv.Close()
	n := &proc.Node{Name: "fake", Addr: strings.TrimPrefix(srv.URL, "http://")}
	d := &demo{start: time.Now(), client: srv.Client(), cluster: &proc.Cluster{}, master: n}
	err := d.waitingWrite(context.Background(), n)
	if err == nil || !strings.Contains(err.Error(), "m4") {
		t.Fatalf("waitingWrite returned %v, want m4's failure", err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "waitingWrite") {
		t.Fatalf("m3's goroutine still runs after waitingWrite returned:\n%s", stacks)
	}
}
