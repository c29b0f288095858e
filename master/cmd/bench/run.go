package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func run(ctx context.Context, o options) error {
	fmt.Printf("replog bench: %s, %d cores, %d-byte messages, %s per cell after %s warm-up, median of %d\n",
		time.Now().Format("2006-01-02 15:04"), runtimeCPUs(), o.size, o.duration, o.warmup, o.repeat)
	target := o.target
	if target == "" {
		c, err := startCluster(ctx, o, 2)
		if err != nil {
			return err
		}
		defer c.stop()
		target = c.master.url
		fmt.Printf("cluster: master and 2 secondaries on loopback (%s)\n", strings.Join(o.env, " "))
	}
	var base string
	if o.baseline {
		b, err := startBaseline(ctx)
		if err != nil {
			return err
		}
		defer b.kill()
		base = b.url
	}
	if err := table(ctx, o, target, base); err != nil {
		return err
	}
	if o.catchup > 0 && o.target == "" {
		return catchup(ctx, o)
	}
	return nil
}

// table measures every cell, interleaving baseline and replog runs so that
// drift of a shared machine affects both alike.
func table(ctx context.Context, o options, target, base string) error {
	type key struct{ c, w int } // w 0 is the baseline
	runs := map[key][]result{}
	for r := range o.repeat {
		for _, c := range o.concurrency {
			if base != "" {
				res, err := load(ctx, base+"/messages", c, 1, o.size, o.warmup, o.duration)
				if err != nil {
					return err
				}
				runs[key{c, 0}] = append(runs[key{c, 0}], res)
			}
			for _, w := range o.writeConcern {
				res, err := load(ctx, target+"/messages", c, w, o.size, o.warmup, o.duration)
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
			fmt.Printf("%4d %3s %12.0f %9s %9s %9s %8s\n", c, "base", b.rate, ms(b.p50), ms(b.p99), ms(b.p999), "1.00")
		}
		for _, w := range o.writeConcern {
			m := median(runs[key{c, w}])
			ratio := "-"
			if base != "" {
				ratio = fmt.Sprintf("%.2f", m.rate/b.rate)
			}
			fmt.Printf("%4d %3d %12.0f %9s %9s %9s %8s\n", c, w, m.rate, ms(m.p50), ms(m.p99), ms(m.p999), ratio)
		}
	}
	return nil
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
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// catchup fills a fresh master with o.catchup messages, reports its memory
// per message, then times a secondary that joins late.
func catchup(ctx context.Context, o options) error {
	c, err := startCluster(ctx, o, 0)
	if err != nil {
		return err
	}
	defer c.stop()
	before := rss(c.master.cmd.Process.Pid)
	start := time.Now()
	if err := fill(ctx, c.master.url+"/messages", o.catchup, o.size); err != nil {
		return err
	}
	fillTook := time.Since(start)
	after := rss(c.master.cmd.Process.Pid)
	fmt.Printf("\nfilled the master with %d messages in %s; master RSS %d MiB → %d MiB: %.0f bytes per held message\n",
		o.catchup, fillTook.Round(time.Millisecond), before>>20, after>>20, float64(after-before)/float64(o.catchup))
	s, err := c.addSecondary(ctx, "late")
	if err != nil {
		return err
	}
	start = time.Now()
	for {
		var h struct {
			LastID int `json:"lastId"`
		}
		if err := getJSON(s.url+"/health", &h); err == nil && h.LastID >= o.catchup {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	took := time.Since(start)
	sr := rss(s.cmd.Process.Pid)
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

// rss is a process's resident memory in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
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

// proc is a started node.
type proc struct {
	cmd *exec.Cmd
	url string
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

type cluster struct {
	o      options
	master *proc
	nodes  []*proc
	dirs   []string
}

func (c *cluster) stop() {
	for _, p := range c.nodes {
		p.kill()
	}
	for _, d := range c.dirs {
		os.RemoveAll(d)
	}
}

func startCluster(ctx context.Context, o options, secondaries int) (*cluster, error) {
	c := &cluster{o: o}
	m, err := c.start(ctx, "master", nil)
	if err != nil {
		return nil, err
	}
	c.master = m
	for i := range secondaries {
		if _, err := c.addSecondary(ctx, fmt.Sprintf("s%d", i+1)); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) addSecondary(ctx context.Context, name string) (*proc, error) {
	host := strings.TrimPrefix(c.master.url, "http://")
	return c.start(ctx, "secondary", []string{"NODE_NAME=" + name, "MASTER_URL=ws://" + host + "/replicate"})
}

func (c *cluster) start(ctx context.Context, bin string, env []string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.o.bin, bin))
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "LOG_LEVEL=warn", "LOG_FORMAT=console")
	for _, e := range c.o.env {
		if e == "DATA_DIR=auto" {
			dir, err := os.MkdirTemp("", "replog-bench-")
			if err != nil {
				return nil, err
			}
			c.dirs = append(c.dirs, dir)
			e = "DATA_DIR=" + dir
		}
		cmd.Env = append(cmd.Env, e)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, url: "http://" + addr}
	c.nodes = append(c.nodes, p)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var h map[string]any
		err := getJSON(p.url+"/health", &h)
		if err == nil && (bin == "master" || h["master"] == "connected") {
			return p, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not become ready: %v %v", bin, err, h)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func startBaseline(ctx context.Context) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "baseline")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("baseline address: %w", err)
	}
	return &proc{cmd: cmd, url: "http://" + strings.TrimSpace(addr)}, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
