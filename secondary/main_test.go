package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/replog/replog/secondary/internal/config"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/serve/servetest"
	"github.com/replog/replog/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// variables are the secondary's settings, from its configuration struct.
var variables = serve.Variables(&config.Config{})

// exec runs the secondary's command line in the process (servetest.Exec).
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
	for _, want := range []string{"HTTP_ADDR (default :8081)", "NODE_NAME (default the hostname, or in a container named by its id the container's name)", "MASTER_URL (default ws://localhost:8080/replicate)", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestDocsListTheSameVariables: README's Configuration table lists, as
// the secondary's or both binaries', exactly the variables of the secondary's
// configuration, and .env.example exactly those of README's table.
func TestDocsListTheSameVariables(t *testing.T) {
	servetest.CheckDocs(t, "..", "secondary", variables)
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
	cases := []struct {
		env  []string
		name string
	}{
		{[]string{"HTTP_ADDR=:65536"}, "HTTP_ADDR"},
		{[]string{"HTTP_ADDR=127.0.0.1"}, "HTTP_ADDR"},
		{[]string{"SHUTDOWN_TIMEOUT=-1s"}, "SHUTDOWN_TIMEOUT"},
		{[]string{"LOG_LEVEL=loud"}, "LOG_LEVEL"},
		{[]string{"LOG_FORMAT=xml"}, "LOG_FORMAT"},
		{[]string{"REPLICATION_TOKEN=line\nbreak"}, "REPLICATION_TOKEN"},
		{[]string{"REPLICATION_TOKEN_FILE=" + file}, "REPLICATION_TOKEN_FILE"}, // empty
		{[]string{"REPLICATION_TOKEN_FILE=" + file + ".absent"}, "REPLICATION_TOKEN_FILE"},
		{[]string{"REPLICATION_TOKEN=t", "REPLICATION_TOKEN_FILE=" + file}, "REPLICATION_TOKEN_FILE"},
		{[]string{"DEBUG_PPROF=2"}, "DEBUG_PPROF"},
		{[]string{"MAX_STREAMS=-3"}, "MAX_STREAMS"},
		{[]string{"MAX_LARGE_READS=0"}, "MAX_LARGE_READS"},
		{[]string{"STREAM_WRITE_TIMEOUT=0s"}, "STREAM_WRITE_TIMEOUT"},
		{[]string{"HTTP_READ_HEADER_TIMEOUT=fast"}, "HTTP_READ_HEADER_TIMEOUT"},
		{[]string{"HTTP_IDLE_TIMEOUT=0s"}, "HTTP_IDLE_TIMEOUT"},
		{[]string{"TLS_CERT_FILE=" + file}, "TLS_KEY_FILE"}, // the one missing
		{[]string{"TLS_KEY_FILE=" + file}, "TLS_CERT_FILE"},
		{[]string{"DATA_DIR=" + file}, "DATA_DIR"},
		{[]string{"FSYNC=often"}, "FSYNC"},
		{[]string{"FSYNC_INTERVAL=0s"}, "FSYNC_INTERVAL"},
		{[]string{"SEGMENT_BYTES=1000"}, "SEGMENT_BYTES"},
		{[]string{"MASTER_URL=http://localhost:8080/replicate"}, "MASTER_URL"},
		{[]string{"MASTER_URL=localhost:8080"}, "MASTER_URL"},
		{[]string{"MASTER_URL=ws://localhost:99999/replicate"}, "MASTER_URL"},
		{[]string{"MASTER_URL=ws://:8080/replicate"}, "MASTER_URL"},
		{[]string{"MASTER_URL=ws://localhost:8080/replicate,http://localhost:8090/replicate"}, "MASTER_URL: entry 2 of 2"},
		{[]string{"MASTER_URL=ws://localhost:8080/replicate,ws://localhost:99999/replicate"}, "MASTER_URL: entry 2 of 2"},
		{[]string{"MASTER_URL=ws://localhost:8080/replicate,"}, "MASTER_URL: entry 2 of 2"},
		{[]string{"MASTER_URL=ws://localhost:8080/replicate, ws://localhost:8080/replicate"}, "MASTER_URL: entry 2 of 2"},
		{[]string{"MASTER_URL=wss://localhost:8080/replicate,ws://localhost:8090/replicate", "MASTER_CA_FILE=" + file}, "MASTER_URL: entry 2 of 2"},
		{[]string{"MASTER_URL=wss://localhost:8080/replicate", "MASTER_CA_FILE=" + file}, "MASTER_CA_FILE"},
		{[]string{"MASTER_CA_FILE=" + file}, "MASTER_URL"}, // ws://: the file would be ignored
		{[]string{"MASTER_URL=wss://localhost:8080/replicate", "REPLICATION_CLIENT_CERT_FILE=" + file}, "REPLICATION_CLIENT_KEY_FILE"},
		{[]string{"MASTER_URL=wss://localhost:8080/replicate", "REPLICATION_CLIENT_KEY_FILE=" + file}, "REPLICATION_CLIENT_CERT_FILE"},
		{[]string{"REPLICATION_DELAY=2s-1s"}, "REPLICATION_DELAY"},
		{[]string{"REPLICATION_DELAY=soon"}, "REPLICATION_DELAY"},
		{[]string{"FAIL_RATE=1.5"}, "FAIL_RATE"},
		{[]string{"FAIL_RATE=NaN"}, "FAIL_RATE"},
		{[]string{"FAIL_RATE=abc"}, "FAIL_RATE"},
		{[]string{"FAULTS_API=on"}, "FAULTS_API"},
		{[]string{"CLUSTER_STATE=old"}, "CLUSTER_STATE"},
	}
	tested := map[string]bool{"NODE_NAME": true} // any name will do
	for _, c := range cases {
		tested[c.name] = true
		t.Run(strings.Join(c.env, ","), func(t *testing.T) {
			status, out, errOut := exec(t, c.env)
			if status != serve.ExitUsage || out != "" {
				t.Fatalf("status %d, stdout %q; want 2", status, out)
			}
			if !strings.HasPrefix(errOut, "secondary: "+c.name+": ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("want one line naming %s, got %q", c.name, errOut)
			}
		})
	}
	for name := range variables {
		if !tested[name] {
			t.Errorf("no bad value of %s is tried", name)
		}
	}
	_, _, errOut := exec(t, []string{"FAIL_RATE=abc"})
	if want := "secondary: FAIL_RATE: \"abc\" is not a number\n"; errOut != want {
		t.Errorf("got %q, want %q", errOut, want)
	}
}

// TestArguments: version prints the build; anything else but help and
// health is a one-line usage and status 2, never a node started.
func TestArguments(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		status, out, errOut := exec(t, nil, arg)
		if status != 0 || errOut != "" || !strings.HasPrefix(out, "replog secondary ") || !strings.Contains(out, runtime.Version()) ||
			!strings.Contains(out, "\ncommit ") {
			t.Errorf("%s: status %d, stdout %q, stderr %q", arg, status, out, errOut)
		}
	}
	for _, args := range [][]string{{"--port=9000"}, {"start"}, {"help", "me"}, {""}} {
		status, out, errOut := exec(t, nil, args...)
		if status != serve.ExitUsage || out != "" || !strings.HasPrefix(errOut, "usage: secondary ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, status, out, errOut)
		}
	}
}

// TestSeveralMasterURLs: MASTER_URL's entries are the URLs dialed, in
// order, spaces around the commas ignored.
func TestSeveralMasterURLs(t *testing.T) {
	for name := range variables {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv("NODE_NAME", "s1")
	t.Setenv("MASTER_URL", "ws://m1:8080/replicate, ws://m2:8080/replicate,wss://m3/replicate")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ws://m1:8080/replicate", "ws://m2:8080/replicate", "wss://m3/replicate"}
	if got := cfg.MasterURLs(); !slices.Equal(got, want) {
		t.Fatalf("MasterURLs %q, want %q", got, want)
	}
}

// TestDataDirKeepsPromises: with DATA_DIR the secondary has a Ballot,
// and its promise.json is written before the log opens (a new node of an
// existing cluster is a learner); without DATA_DIR it has none and keeps
// its log in memory, as before failover.
func TestDataDirKeepsPromises(t *testing.T) {
	log, reg := zap.NewNop(), prometheus.NewRegistry()
	st, promises, err := openStore(context.Background(), config.Config{}, log, reg)
	if err != nil || promises != nil {
		t.Fatalf("without DATA_DIR: ballot %v, %v", promises, err)
	}
	st.Close()
	dir := t.TempDir()
	st, promises, err = openStore(context.Background(), config.Config{DiskSettings: store.DiskSettings{DataDir: dir}}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if promises == nil || !promises.Learner() {
		t.Fatalf("with DATA_DIR: ballot %v, want a learner's", promises)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-1", "promise.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := promises.Prepare(2, "m1"); err == nil {
		t.Fatal("a learner granted a promise")
	}
}

// TestReplicasTakeBackTheirOwnDirectories: secondaries sharing a volume
// each take back the node-N directory whose promises are theirs, in
// whatever order they start, never another's: one directory counted
// under two names would be two votes.
func TestReplicasTakeBackTheirOwnDirectories(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) (store.Store, string) {
		t.Helper()
		cfg := config.Config{DiskSettings: store.DiskSettings{DataDir: dir}}
		cfg.NodeName = name
		st, _, err := openStore(context.Background(), cfg, zap.NewNop(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return st, st.(*store.Disk).Dir()
	}
	a, aDir := open("s1")
	b, bDir := open("s2")
	a.Close()
	b.Close()
	// Restarted the other way round: s2 first.
	b, bAgain := open("s2")
	a, aAgain := open("s1")
	defer a.Close()
	defer b.Close()
	if aAgain != aDir || bAgain != bDir {
		t.Fatalf("s1 took %s then %s, s2 %s then %s", aDir, aAgain, bDir, bAgain)
	}
}
