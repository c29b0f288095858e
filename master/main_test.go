package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/replog/replog/master/internal/config"
	"github.com/replog/replog/shared/logging"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/serve/servetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// variables are the master's settings, from its configuration struct.
var variables = serve.Variables(&config.Config{})

// exec runs the master's command line in the process (servetest.Exec).
func exec(t *testing.T, env []string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	return servetest.Exec(t, binary, config.Load, env, args...)
}

// TestHelpListsEveryVariable: help is generated from the configuration
// struct, so it lists every variable, each with what it means, and says
// it on stdout with status 0 for each way of asking.
func TestHelpListsEveryVariable(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		status, out, errOut := exec(t, nil, arg)
		if status != 0 || errOut != "" {
			t.Fatalf("%s: status %d, stderr %q", arg, status, errOut)
		}
		servetest.CheckHelp(t, out, variables)
	}
	_, out, _ := exec(t, nil, "help")
	for _, want := range []string{"HTTP_ADDR (default :8080)", "NODE_NAME (default master)", "CLUSTER_SIZE (default 0)", "Exit status",
		"Usage: master [help | version | health | step-down | check]\n", "\n  step-down hand leadership", "\n  check     append through WRITE_URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestDocsListTheSameVariables: README's Configuration table lists, as
// the master's or both binaries', exactly the variables of the master's
// configuration, and .env.example exactly those of README's table.
func TestDocsListTheSameVariables(t *testing.T) {
	servetest.CheckDocs(t, "..", "master", variables)
}

// TestBadSettings: every variable that can be wrong stops the master
// before it starts, with status 2 and one line naming the variable,
// whether envconfig or our own checks refuse the value.
func TestBadSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A valid failover configuration, but for what each case changes.
	failover := []string{"PEERS=m1=http://m1:8080,m2=http://m2:8080", "DATA_DIR=" + dir, "CLUSTER_SIZE=5"}
	cases := []struct {
		env  []string
		name string
	}{
		{[]string{"HTTP_ADDR=:99999"}, "HTTP_ADDR"},
		{[]string{"HTTP_ADDR=8080"}, "HTTP_ADDR"},
		{[]string{"HTTP_ADDR=localhost:http"}, "HTTP_ADDR"},
		{[]string{"SHUTDOWN_TIMEOUT=soon"}, "SHUTDOWN_TIMEOUT"},
		{[]string{"SHUTDOWN_TIMEOUT=-1s"}, "SHUTDOWN_TIMEOUT"},
		{[]string{"LOG_LEVEL=loud"}, "LOG_LEVEL"},
		{[]string{"LOG_FORMAT=xml"}, "LOG_FORMAT"},
		{[]string{"REPLICATION_TOKEN=two words"}, "REPLICATION_TOKEN"},
		{[]string{"REPLICATION_TOKEN_FILE=" + file}, "REPLICATION_TOKEN_FILE"}, // empty
		{[]string{"REPLICATION_TOKEN_FILE=" + file + ".absent"}, "REPLICATION_TOKEN_FILE"},
		{[]string{"REPLICATION_TOKEN=t", "REPLICATION_TOKEN_FILE=" + file}, "REPLICATION_TOKEN_FILE"},
		{[]string{"DEBUG_PPROF=maybe"}, "DEBUG_PPROF"},
		{[]string{"MAX_STREAMS=0"}, "MAX_STREAMS"},
		{[]string{"MAX_STREAMS=many"}, "MAX_STREAMS"},
		{[]string{"MAX_LARGE_READS=0"}, "MAX_LARGE_READS"},
		{[]string{"STREAM_WRITE_TIMEOUT=0s"}, "STREAM_WRITE_TIMEOUT"},
		{[]string{"HTTP_READ_HEADER_TIMEOUT=0s"}, "HTTP_READ_HEADER_TIMEOUT"},
		{[]string{"HTTP_IDLE_TIMEOUT=5"}, "HTTP_IDLE_TIMEOUT"},
		{[]string{"TLS_CERT_FILE=" + file}, "TLS_KEY_FILE"}, // the one missing
		{[]string{"TLS_KEY_FILE=" + file}, "TLS_CERT_FILE"},
		{[]string{"TLS_CERT_FILE=" + file, "TLS_KEY_FILE=" + file}, "TLS_CERT_FILE"},
		{[]string{"DATA_DIR=" + file}, "DATA_DIR"},
		{[]string{"FSYNC=sometimes"}, "FSYNC"},
		{[]string{"FSYNC_INTERVAL=0s"}, "FSYNC_INTERVAL"},
		{[]string{"SEGMENT_BYTES=1000"}, "SEGMENT_BYTES"},
		{[]string{"CLUSTER_SIZE=abc"}, "CLUSTER_SIZE"},
		{[]string{"CLUSTER_SIZE=-1"}, "CLUSTER_SIZE"},
		{[]string{"CLUSTER_SIZE=99999999999999999999"}, "CLUSTER_SIZE"},
		{[]string{"MAX_MESSAGE_BYTES=0"}, "MAX_MESSAGE_BYTES"},
		{[]string{"MAX_BATCH_MESSAGES=0"}, "MAX_BATCH_MESSAGES"},
		{[]string{"MAX_BATCH_BYTES=10"}, "MAX_BATCH_BYTES"},
		{[]string{"QUORUM=-1"}, "QUORUM"},
		{[]string{"CLUSTER_SIZE=3", "QUORUM=4"}, "QUORUM"},
		{[]string{"WRITE_TIMEOUT=-1s"}, "WRITE_TIMEOUT"},
		{[]string{"MAX_WAITING_WRITES=0"}, "MAX_WAITING_WRITES"},
		{[]string{"MAX_REPLICATION_PEERS=0"}, "MAX_REPLICATION_PEERS"},
		{[]string{"REPLICATION_HELLO_TIMEOUT=0s"}, "REPLICATION_HELLO_TIMEOUT"},
		{[]string{"REPLICATION_WRITE_TIMEOUT=0s"}, "REPLICATION_WRITE_TIMEOUT"},
		{[]string{"HEARTBEAT_INTERVAL=1ms"}, "HEARTBEAT_INTERVAL"},
		{[]string{"REPLICATION_LINGER=2s"}, "REPLICATION_LINGER"},
		{[]string{"IDEMPOTENCY_WINDOW=forever"}, "IDEMPOTENCY_WINDOW"},
		{[]string{"IDEMPOTENCY_MAX_KEYS=0"}, "IDEMPOTENCY_MAX_KEYS"},
		{[]string{"FORGET_SECONDARY_AFTER=0s"}, "FORGET_SECONDARY_AFTER"},
		{[]string{"REPLICATION_CLIENT_CA_FILE=" + file}, "REPLICATION_CLIENT_CA_FILE"},
		{[]string{"RETENTION_MAX_MESSAGES=-1"}, "RETENTION_MAX_MESSAGES"},
		{[]string{"RETENTION_MAX_BYTES=lots"}, "RETENTION_MAX_BYTES"},
		{[]string{"RETENTION_MAX_AGE=forever"}, "RETENTION_MAX_AGE"},
		{[]string{"FAULTS_API=yes please"}, "FAULTS_API"},
		{[]string{"PEERS=m1"}, "PEERS"},
		{[]string{"PEERS=m1=ftp://m1:21"}, "PEERS"},
		{[]string{"PEERS=m1=http://a:1,m1=http://b:1"}, "PEERS"},
		{append(failover, "NODE_NAME=m1", "PEERS=m1=http://m1:8080"), "PEERS"},
		{[]string{"PEERS=m1=http://m1:8080,m2=http://m2:8080"}, "NODE_NAME"},
		{withoutVar(append(failover, "NODE_NAME=m1"), "DATA_DIR"), "DATA_DIR"},
		{append(failover, "NODE_NAME=m1", "FSYNC=interval"), "FSYNC"},
		{withoutVar(append(failover, "NODE_NAME=m1"), "CLUSTER_SIZE"), "CLUSTER_SIZE"},
		{append(failover, "NODE_NAME=m1", "CLUSTER_SIZE=2", "QUORUM=2", "PEERS=m1=http://m1:8080,m2=http://m2:8080,m3=http://m3:8080"), "CLUSTER_SIZE"},
		{append(failover, "NODE_NAME=m1", "QUORUM=2"), "QUORUM"},
		{append(failover, "NODE_NAME=m1", "FAILOVER_TIMEOUT=4s"), "FAILOVER_TIMEOUT"},
		{[]string{"FAILOVER_TIMEOUT=soon"}, "FAILOVER_TIMEOUT"},
		{[]string{"FAILOVER=sometimes"}, "FAILOVER"},
		{[]string{"CLUSTER_STATE=old"}, "CLUSTER_STATE"},
		{[]string{"ADVERTISE_URL=m1:8080"}, "ADVERTISE_URL"},
		{[]string{"MASTER_CA_FILE=" + file}, "MASTER_CA_FILE"}, // without PEERS: ignored
		{append(failover, "NODE_NAME=m1", "MASTER_CA_FILE="+file), "MASTER_CA_FILE"},
		{append(failover, "NODE_NAME=m1", "REPLICATION_CLIENT_CERT_FILE="+file), "REPLICATION_CLIENT_KEY_FILE"},
		{append(failover, "NODE_NAME=m1", "REPLICATION_CLIENT_KEY_FILE="+file), "REPLICATION_CLIENT_CERT_FILE"},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		tested[c.name] = true
		t.Run(strings.Join(c.env, ","), func(t *testing.T) {
			status, out, errOut := exec(t, c.env)
			if status != serve.ExitUsage || out != "" {
				t.Fatalf("status %d, stdout %q; want 2", status, out)
			}
			if !strings.HasPrefix(errOut, "master: "+c.name+": ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("want one line naming %s, got %q", c.name, errOut)
			}
		})
	}
	for name := range variables {
		if !tested[name] {
			t.Errorf("no bad value of %s is tried", name)
		}
	}
	_, _, errOut := exec(t, []string{"CLUSTER_SIZE=abc"})
	if want := "master: CLUSTER_SIZE: \"abc\" is not an integer\n"; errOut != want {
		t.Errorf("got %q, want %q", errOut, want)
	}
}

// TestArguments: version prints the build; anything else but help and
// health is a one-line usage and status 2, never a node started.
func TestArguments(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		status, out, errOut := exec(t, nil, arg)
		if status != 0 || errOut != "" || !strings.HasPrefix(out, "replog master ") || !strings.Contains(out, runtime.Version()) ||
			!strings.Contains(out, "\ncommit ") {
			t.Errorf("%s: status %d, stdout %q, stderr %q", arg, status, out, errOut)
		}
	}
	for _, args := range [][]string{{"--port=9000"}, {"start"}, {"help", "me"}, {""}, {"step-down", "now"}} {
		status, out, errOut := exec(t, nil, args...)
		if status != serve.ExitUsage || out != "" || !strings.HasPrefix(errOut, "usage: master [help | version | health | step-down | check] ") ||
			strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, status, out, errOut)
		}
	}
}

// lines is a log sink the test reads while the node writes.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// find returns the first JSON line whose msg is msg, or nil.
func (l *lines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

// TestStartLine: the master's start-up line says its settings as an
// operator wrote them: durations as "1s", a setting left at 0 as what 0
// means rather than a number.
func TestStartLine(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want map[string]any
	}{
		{[]string{}, map[string]any{"clusterSize": "unset", "quorum": 1.0, "writeTimeout": "no limit",
			"heartbeatInterval": "1s", "replicationLinger": "1ms"}},
		{[]string{"CLUSTER_SIZE=3", "WRITE_TIMEOUT=1500ms", "HEARTBEAT_INTERVAL=250ms"}, map[string]any{"clusterSize": "3",
			"quorum": 2.0, "writeTimeout": "1.5s", "heartbeatInterval": "250ms"}},
	} {
		t.Run(strings.Join(c.env, ","), func(t *testing.T) {
			for name := range variables {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
			for _, kv := range append(c.env, "HTTP_ADDR=127.0.0.1:0") {
				name, value, _ := strings.Cut(kv, "=")
				t.Setenv(name, value)
			}
			cfg, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			var out lines
			log, err := logging.NewTo(&out, "master", "info", "json")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, cfg, log) }()
			deadline := time.Now().Add(10 * time.Second)
			line := out.find("master starting")
			for ; line == nil && time.Now().Before(deadline); line = out.find("master starting") {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if line == nil {
				t.Fatalf("no start-up line in:\n%s", out.buf.String())
			}
			for k, v := range c.want {
				if line[k] != v {
					t.Errorf("%s: %#v, want %#v (line %v)", k, line[k], v, line)
				}
			}
		})
	}
}

// withoutVar is env without the variable name.
func withoutVar(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}
