package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measured cell.
type result struct {
	rate           float64 // messages appended per second (a batch counts each of its messages)
	p50, p99, p999 time.Duration
	errors         int64
	cpu            []float64 // CPU µs per message of each process of the cell's meter
	perFrame       float64   // messages per replication frame (0: none sent)
	acksPerFrame   float64   // acks the master received per frame it sent
}

// load drives url with c closed-loop clients, each on its own keep-alive
// connection, appending messages of size bytes with write concern w (in
// batches of batch messages when batch > 1): first warmup unmeasured, then
// d measured.
func load(ctx context.Context, win window, url string, c, w, size, batch int, warmup, d time.Duration) (result, error) {
	body := fmt.Appendf(nil, `{"message":"%s","writeConcern":%d}`, strings.Repeat("x", size), w)
	perRequest := int64(1)
	if batch > 1 {
		msgs := strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("x", size)+`",`, batch), ",")
		body, perRequest = fmt.Appendf(nil, `{"messages":[%s],"writeConcern":%d}`, msgs, w), int64(batch)
	}
	var measuring atomic.Bool
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	counts := make([]int64, c)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range c {
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}}
		lat[i] = make([]time.Duration, 0, 1<<16)
		wg.Go(func() {
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				start := time.Now()
				ok := post(ctx, client, url, body)
				if !measuring.Load() {
					continue
				}
				if !ok {
					errs.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(start))
				counts[i] += perRequest
			}
		})
	}
	wait := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	wait(warmup)
	measuring.Store(true)
	start, measured := time.Now(), win.begin(ctx, d)
	wait(d)
	measuring.Store(false)
	elapsed := time.Since(start)
	werr := measured.stop()
	cancel()
	wg.Wait()
	if werr != nil {
		return result{}, werr
	}
	var all []time.Duration
	var n int64
	for i := range c {
		all = append(all, lat[i]...)
		n += counts[i]
	}
	if len(all) == 0 {
		return result{}, fmt.Errorf("no append succeeded against %s (%d errors)", url, errs.Load())
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	r := result{rate: float64(n) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), p999: pct(0.999), errors: errs.Load()}
	measured.fill(&r, n)
	return r, nil
}

func post(ctx context.Context, client *http.Client, url string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusCreated
}
