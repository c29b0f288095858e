// Command bench measures replog the same way every time: a closed-loop
// load against a master with two secondaries and, in the same run and
// interleaved with it, against a baseline — a minimal net/http server that
// decodes the same JSON and appends to a slice under a mutex, the practical
// ceiling for one HTTP node on the machine. It prints appends/s, latency
// percentiles and the ratio to the baseline for each concurrency and write
// concern, then the catch-up rate of a late secondary and memory per held
// message.
//
//	go run ./cmd/bench -bin ../bin                 # what make bench runs
//	go run ./cmd/bench -target http://localhost:8080 -baseline=false
//	go run ./cmd/bench baseline -addr :9000        # the baseline alone
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

type options struct {
	bin          string
	target       string
	baseline     bool
	duration     time.Duration
	warmup       time.Duration
	concurrency  []int
	writeConcern []int
	size         int
	repeat       int
	catchup      int
	retention    int           // messages for the retention cell; 0 skips it
	meter        cpuMeter      // the replog cells' processes, set by run
	metrics      string        // the master's /metrics, set by run
	nodes        []profiledURL // the nodes -profile reads, set by run
	profile      string        // directory for CPU profiles; "" takes none
	baseMeter    cpuMeter      // the baseline cells' processes
	batch        int
	streams      bool
	env          []string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		fs := flag.NewFlagSet("baseline", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		_ = fs.Parse(os.Args[2:])
		if err := serveBaseline(*addr); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var cs, ws, env string
	flag.StringVar(&o.bin, "bin", "bin", "directory with the master and secondary binaries (make build)")
	flag.StringVar(&o.target, "target", "", "measure an already running master at this URL instead of starting a cluster")
	flag.BoolVar(&o.baseline, "baseline", true, "measure the baseline server too, interleaved")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per cell")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each cell")
	flag.StringVar(&cs, "c", "1,16,64", "concurrent clients, comma separated")
	flag.StringVar(&ws, "w", "1,2,3", "write concerns, comma separated")
	flag.IntVar(&o.size, "size", 100, "message size in bytes")
	flag.IntVar(&o.repeat, "repeat", 3, "runs of each cell; the table shows medians")
	flag.IntVar(&o.batch, "batch", 100, "messages per batch for the batch cells (C = 1, 16; w = 1, 3); 0 skips them")
	flag.BoolVar(&o.streams, "streams", true, "measure delivery to 1 and 100 stream consumers of a secondary")
	flag.IntVar(&o.catchup, "catchup", 1000000, "messages for the catch-up and memory measurements; 0 skips them")
	flag.IntVar(&o.retention, "retention", 0, "messages for the retention cell (e.g. 2000000: RSS and rate with RETENTION_MAX_MESSAGES at a twentieth, against none); 0 skips it")
	flag.StringVar(&o.profile, "profile", "", "save a CPU profile of every node over each replog cell's measured window in this directory (nodes started with DEBUG_PPROF=true)")
	flag.StringVar(&env, "env", "", "extra settings for the started nodes, e.g. DATA_DIR=auto,FSYNC=always (DATA_DIR=auto: a temporary directory)")
	flag.Parse()
	var err error
	if o.concurrency, err = ints(cs); err == nil {
		o.writeConcern, err = ints(ws)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if env != "" {
		o.env = strings.Split(env, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a list of positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}
