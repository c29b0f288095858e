package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replog/replog/master/internal/proc"
)

func run(ctx context.Context, o options) error {
	fmt.Printf("replog bench: %s, %d cores, %d-byte messages, %s per cell after %s warm-up, median of %d\n",
		time.Now().Format("2006-01-02 15:04"), runtimeCPUs(), o.size, o.duration, o.warmup, o.repeat)
	target := o.target
	if target == "" {
		c, err := startCluster(o, 2)
		if err != nil {
			return err
		}
		defer c.stop()
		target = c.master().URL()
		fmt.Printf("cluster: master and 2 secondaries on loopback (%s)\n", strings.Join(o.env, " "))
		for _, n := range c.Nodes() {
			o.meter = append(o.meter, procRef{n.Name, n.Pid()})
			o.nodes = append(o.nodes, profiledURL{n.Name, n.URL()})
		}
	}
	o.meter = append(o.meter, procRef{"load", os.Getpid()})
	o.metrics = target + "/metrics"
	if o.target != "" {
		o.nodes = []profiledURL{{"master", o.target}}
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	var base string
	if o.baseline {
		b, err := startBaseline()
		if err != nil {
			return err
		}
		defer b.Kill()
		base = b.URL()
		o.baseMeter = cpuMeter{{"baseline", b.Pid()}, {"load", os.Getpid()}}
	}
	if err := table(ctx, o, target, base); err != nil {
		return err
	}
	if o.batch > 1 {
		if err := batchTable(ctx, o, target); err != nil {
			return err
		}
	}
	if o.streams && o.target == "" {
		if err := streamTable(ctx, o); err != nil {
			return err
		}
	}
	if o.retention > 0 && o.target == "" {
		if err := retentionCell(ctx, o); err != nil {
			return err
		}
	}
	if o.catchup > 0 && o.target == "" {
		return catchup(ctx, o)
	}
	return nil
}

// retentionCell appends o.retention messages (batches of 100, 16 clients)
// to a lone in-memory master twice: without retention, and with
// RETENTION_MAX_MESSAGES at a twentieth of them. It prints the master's
// RSS after each half and the rate of each run: with retention the RSS
// must stay flat over the second half.
func retentionCell(ctx context.Context, o options) error {
	fmt.Printf("\nretention: %d appends of %d bytes in batches of 100\n", o.retention, o.size)
	fmt.Printf("| RETENTION_MAX_MESSAGES | msg/s | RSS at start | after half | at the end |\n|---|---|---|---|---|\n")
	for _, keep := range []int{0, o.retention / 20} {
		env := []string(nil)
		if keep > 0 {
			env = []string{fmt.Sprintf("RETENTION_MAX_MESSAGES=%d", keep)}
		}
		c := newCluster(o)
		m, err := c.start("master", proc.Master, env...)
		if err != nil {
			c.stop()
			return err
		}
		start, r0 := time.Now(), rss(m.Pid())
		err = fillBatches(ctx, m.URL()+"/messages", o.retention/2, o.size)
		r1 := rss(m.Pid())
		if err == nil {
			err = fillBatches(ctx, m.URL()+"/messages", o.retention-o.retention/2, o.size)
		}
		took, r2 := time.Since(start), rss(m.Pid())
		c.stop()
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %.0f | %d MiB | %d MiB | %d MiB |\n", keep, float64(o.retention)/took.Seconds(), r0>>20, r1>>20, r2>>20)
	}
	return nil
}

// fillBatches appends n messages in batches of 100 with 16 clients.
func fillBatches(ctx context.Context, url string, n, size int) error {
	msgs := make([]string, 100)
	for i := range msgs {
		msgs[i] = strings.Repeat("x", size)
	}
	body, _ := json.Marshal(map[string]any{"messages": msgs})
	var wg sync.WaitGroup
	var left, failed atomic.Int64
	left.Store(int64((n + 99) / 100))
	for range 16 {
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			for left.Add(-1) >= 0 && failed.Load() <= 100 && ctx.Err() == nil {
				if !post(ctx, client, url, body) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 100 {
		return errors.New("filling the master: more than 100 batches failed")
	}
	return ctx.Err()
}

// table measures every cell, interleaving baseline and replog runs so that
// drift of a shared machine affects both alike.
func table(ctx context.Context, o options, target, base string) error {
	type key struct{ c, w int } // w 0 is the baseline
	runs := map[key][]result{}
	for r := range o.repeat {
		for _, c := range o.concurrency {
			if base != "" {
				res, err := load(ctx, window{meter: o.baseMeter}, base+"/messages", c, 1, o.size, 1, o.warmup, o.duration)
				if err != nil {
					return err
				}
				runs[key{c, 0}] = append(runs[key{c, 0}], res)
			}
			for _, w := range o.writeConcern {
				res, err := load(ctx, o.window(fmt.Sprintf("C%d-w%d", c, w)), target+"/messages", c, w, o.size, 1, o.warmup, o.duration)
				if err != nil {
					return err
				}
				runs[key{c, w}] = append(runs[key{c, w}], res)
				fmt.Fprintf(os.Stderr, "run %d: C=%d w=%d %.0f/s (errors %d)\n", r+1, c, w, res.rate, res.errors)
			}
		}
	}
	fmt.Printf("\n%4s %3s %12s %9s %9s %9s %8s\n", "C", "w", "appends/s", "p50", "p99", "p99.9", "ratio")
	for _, c := range o.concurrency {
		b := median(runs[key{c, 0}])
		if base != "" {
			fmt.Printf("%4d %3s %12.0f %9s %9s %9s %8s   %s\n", c, "base", b.rate, ms(b.p50), ms(b.p99), ms(b.p999), "1.00",
				formatCPU(o.baseMeter, b.cpu))
		}
		for _, w := range o.writeConcern {
			m := median(runs[key{c, w}])
			ratio := "-"
			if base != "" {
				ratio = fmt.Sprintf("%.2f", m.rate/b.rate)
			}
			fmt.Printf("%4d %3d %12.0f %9s %9s %9s %8s   %s%s\n", c, w, m.rate, ms(m.p50), ms(m.p99), ms(m.p999), ratio,
				formatCPU(o.meter, m.cpu), formatFrames(m))
		}
	}
	return nil
}

// batchTable measures batch appends at C = 1 and 16, w = 1 and 3, in
// messages per second (medians of o.repeat runs).
func batchTable(ctx context.Context, o options, target string) error {
	fmt.Printf("\nbatches of %d × %d-byte messages\n%4s %3s %14s %9s %9s\n", o.batch, o.size, "C", "w", "messages/s", "p50", "p99")
	for _, c := range []int{1, 16} {
		for _, w := range []int{1, 3} {
			var runs []result
			for range o.repeat {
				res, err := load(ctx, o.window(fmt.Sprintf("batch%d-C%d-w%d", o.batch, c, w)), target+"/messages", c, w, o.size, o.batch, o.warmup, o.duration)
				if err != nil {
					return err
				}
				runs = append(runs, res)
			}
			m := median(runs)
			fmt.Printf("%4d %3d %14.0f %9s %9s   %s%s\n", c, w, m.rate, ms(m.p50), ms(m.p99), formatCPU(o.meter, m.cpu), formatFrames(m))
		}
	}
	return nil
}

// window is what a replog cell named cell measures besides its appends.
func (o options) window(cell string) window {
	w := window{meter: o.meter, metrics: o.metrics, cell: cell}
	if o.profile != "" {
		w.nodes, w.dir = o.nodes, o.profile
	}
	return w
}

// formatFrames writes a cell's batching: messages and acks per frame.
func formatFrames(r result) string {
	if r.perFrame == 0 {
		return ""
	}
	return fmt.Sprintf("; %.1f msg/frame, %.2f acks/frame", r.perFrame, r.acksPerFrame)
}

// median takes each field's median over the runs.
func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		rate: pick(func(r result) float64 { return r.rate }),
		p50:  time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:  time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		p999: time.Duration(pick(func(r result) float64 { return float64(r.p999) })),
		cpu:  medianCPU(rs),

		perFrame:     pick(func(r result) float64 { return r.perFrame }),
		acksPerFrame: pick(func(r result) float64 { return r.acksPerFrame }),
	}
}

// medianCPU takes each process's median CPU per message over the runs.
func medianCPU(rs []result) []float64 {
	if len(rs[0].cpu) == 0 {
		return nil
	}
	out := make([]float64, len(rs[0].cpu))
	for i := range out {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			if i < len(r.cpu) {
				v = append(v, r.cpu[i])
			}
		}
		slices.Sort(v)
		out[i] = v[len(v)/2]
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// catchup fills a fresh master with o.catchup messages, reports its memory
// per message, then times a secondary that joins late.
func catchup(ctx context.Context, o options) error {
	c, err := startCluster(o, 0)
	if err != nil {
		return err
	}
	defer c.stop()
	before := rss(c.master().Pid())
	start := time.Now()
	if err := fill(ctx, c.master().URL()+"/messages", o.catchup, o.size); err != nil {
		return err
	}
	fillTook := time.Since(start)
	after := rss(c.master().Pid())
	fmt.Printf("\nfilled the master with %d messages in %s; master RSS %d MiB → %d MiB: %.0f bytes per held message\n",
		o.catchup, fillTook.Round(time.Millisecond), before>>20, after>>20, float64(after-before)/float64(o.catchup))
	s, err := c.start("late", proc.Secondary)
	if err != nil {
		return err
	}
	start = time.Now()
	for {
		var h struct {
			LastID int `json:"lastId"`
		}
		if err := proc.GetJSON(s.URL()+"/health", &h); err == nil && h.LastID >= o.catchup {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(10 * time.Millisecond) // a fixed, short interval (not poll.Until's back-off): the time it caught up is what is measured
	}
	took := time.Since(start)
	sr := rss(s.Pid())
	fmt.Printf("catch-up: a late secondary received %d messages in %s: %.0f messages/s; its RSS %d MiB: %.0f bytes per held message\n",
		o.catchup, took.Round(time.Millisecond), float64(o.catchup)/took.Seconds(), sr>>20, float64(sr)/float64(o.catchup))
	return nil
}

// fill appends exactly n messages with 64 clients.
func fill(ctx context.Context, url string, n, size int) error {
	body := fmt.Appendf(nil, `{"message":"%s","writeConcern":1}`, strings.Repeat("x", size))
	var wg sync.WaitGroup
	var mu sync.Mutex
	left, failed := n, 0
	for range 64 {
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			for {
				mu.Lock()
				if left == 0 || failed > 100 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				if !post(ctx, client, url, body) {
					mu.Lock()
					left++
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if failed > 100 {
		return errors.New("filling the master: more than 100 appends failed")
	}
	return ctx.Err()
}

// rss is a process's resident memory in bytes (0 if unknown).
func rss(pid int) int64 {
	v, _ := proc.Status(pid, "VmRSS")
	return v
}

func runtimeCPUs() int {
	n := 0
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

// cluster is a proc.Cluster with the benchmark's settings, and the
// temporary data directories that -env DATA_DIR=auto made for it.
type cluster struct {
	*proc.Cluster
	o    options
	dirs []string
}

// newCluster is a cluster of o.bin's binaries logging warnings to stderr.
func newCluster(o options) *cluster {
	env := []string{"LOG_LEVEL=warn", "LOG_FORMAT=console"}
	if o.profile != "" {
		env = append(env, "DEBUG_PPROF=true")
	}
	return &cluster{Cluster: &proc.Cluster{Bin: o.bin, Env: env, Logs: os.Stderr}, o: o}
}

// startCluster starts a master and n secondaries, each secondary
// connected when it returns.
func startCluster(o options, secondaries int) (*cluster, error) {
	c := newCluster(o)
	specs := make([]proc.Spec, 1+secondaries)
	var err error
	specs[0], err = c.spec("master", proc.Master)
	for i := 1; i <= secondaries && err == nil; i++ {
		specs[i], err = c.spec(fmt.Sprintf("s%d", i), proc.Secondary)
	}
	if err == nil {
		err = c.Start(specs...)
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start starts one more node and waits until it is ready.
func (c *cluster) start(name string, role proc.Role, extra ...string) (*proc.Node, error) {
	s, err := c.spec(name, role, extra...)
	if err != nil {
		return nil, err
	}
	return c.StartNode(s)
}

// spec is a node with -env's settings (DATA_DIR=auto: a new temporary
// directory), then extra.
func (c *cluster) spec(name string, role proc.Role, extra ...string) (proc.Spec, error) {
	s := proc.Spec{Name: name, Role: role}
	for _, e := range c.o.env {
		if e == "DATA_DIR=auto" {
			dir, err := os.MkdirTemp("", "replog-bench-")
			if err != nil {
				return s, err
			}
			c.dirs = append(c.dirs, dir)
			e = "DATA_DIR=" + dir
		}
		s.Env = append(s.Env, e)
	}
	s.Env = append(s.Env, extra...)
	return s, nil
}

func (c *cluster) master() *proc.Node { return c.Masters()[0] }

func (c *cluster) stop() {
	_ = c.Kill()
	for _, d := range c.dirs {
		os.RemoveAll(d)
	}
}

// startBaseline runs this program's baseline server as a process of its
// own, like the nodes it is compared with.
func startBaseline() (*proc.Node, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	n := &proc.Node{Name: "baseline", Bin: self, Args: []string{"baseline", "-addr", addr}, Addr: addr, Logs: io.Discard}
	if err := n.Start(); err != nil {
		_ = n.Kill()
		return nil, err
	}
	return n, nil
}
