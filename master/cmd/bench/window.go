package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// window is what a cell reads over its measured window besides the
// appends: the CPU of each process, the master's replication counters
// (how many messages one frame carries, how many acks one frame costs),
// and, with -profile, a CPU profile of every node.
type window struct {
	meter   cpuMeter
	metrics string        // the master's /metrics; "" for the baseline
	nodes   []profiledURL // nodes to profile; none without -profile
	dir     string        // where profiles go
	cell    string        // names the profile files, e.g. "C16-w3"
}

// profiledURL is a node serving /debug/pprof (DEBUG_PPROF=true).
type profiledURL struct{ name, url string }

// replicationCounts are the master's replication counters, summed over
// its secondaries.
type replicationCounts struct{ messages, frames, acks float64 }

// open is a window being measured; close ends it.
type open struct {
	w                 window
	cpu, cpuEnd       []int64
	counts, countsEnd replicationCounts
	wg                sync.WaitGroup
	errs              []error
}

// begin starts measuring; the profiles, if any, cover d.
func (w window) begin(ctx context.Context, d time.Duration) *open {
	o := &open{w: w, cpu: w.meter.sample()}
	if w.metrics != "" {
		o.counts = scrapeReplication(w.metrics)
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	o.errs = make([]error, len(w.nodes))
	for i, n := range w.nodes {
		o.wg.Go(func() {
			path := filepath.Join(w.dir, fmt.Sprintf("%s-%s.pprof", w.cell, n.name))
			o.errs[i] = fetchProfile(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", n.url, secs), path)
		})
	}
	return o
}

// stop ends the window, once the profiles are in (the load goes on
// until then, so that they show it only).
func (o *open) stop() error {
	o.cpuEnd = o.w.meter.sample()
	if o.w.metrics != "" {
		o.countsEnd = scrapeReplication(o.w.metrics)
	}
	o.wg.Wait()
	for _, err := range o.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fill sets r's CPU and frame figures for the messages appended in the
// window.
func (o *open) fill(r *result, messages int64) {
	r.cpu = o.w.meter.perOp(o.cpu, o.cpuEnd, messages)
	if frames := o.countsEnd.frames - o.counts.frames; frames > 0 {
		r.perFrame = (o.countsEnd.messages - o.counts.messages) / frames
		r.acksPerFrame = (o.countsEnd.acks - o.counts.acks) / frames
	}
}

// scrapeReplication sums the master's replication counters over its
// secondaries; zeros when the metrics cannot be read.
func scrapeReplication(url string) replicationCounts {
	var c replicationCounts
	resp, err := http.Get(url)
	if err != nil {
		return c
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var into *float64
		switch {
		case strings.HasPrefix(line, "replog_replication_messages_sent_total{"):
			into = &c.messages
		case strings.HasPrefix(line, "replog_replication_frames_sent_total{"):
			into = &c.frames
		case strings.HasPrefix(line, "replog_replication_acks_received_total{"):
			into = &c.acks
		default:
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			*into += v
		}
	}
	return c
}

// fetchProfile saves the CPU profile at url to path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s (are the nodes started with DEBUG_PPROF=true?)", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
