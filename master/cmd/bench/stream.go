package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// streamTable measures delivery to stream consumers: a master and one
// secondary, 1 and then 100 consumers of the secondary's
// GET /messages/stream, while 16 clients append batches of o.batch with
// w=1. It prints the messages appended and delivered per second.
func streamTable(ctx context.Context, o options) error {
	c, err := startCluster(o, 1)
	if err != nil {
		return err
	}
	defer c.stop()
	sec := c.Nodes()[1]
	fmt.Printf("\nstreams of a secondary (appends: 16 clients, batches of %d × %d bytes, w=1)\n%10s %16s %18s %22s\n",
		o.batch, o.size, "consumers", "appended msg/s", "delivered msg/s", "per consumer msg/s")
	for _, consumers := range []int{1, 100} {
		var delivered atomic.Int64
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range consumers {
			wg.Go(func() { consume(sctx, sec.URL()+"/messages/stream", &delivered) })
		}
		res, err := load(ctx, window{}, c.master().URL()+"/messages", 16, 1, o.size, max(o.batch, 1), 0, o.duration)
		got := delivered.Load()
		cancel()
		wg.Wait()
		if err != nil {
			return err
		}
		rate := float64(got) / o.duration.Seconds()
		fmt.Printf("%10d %16.0f %18.0f %22.0f\n", consumers, res.rate, rate, rate/float64(consumers))
	}
	return nil
}

// consume reads a stream and counts its message events until ctx ends.
func consume(ctx context.Context, url string, delivered *atomic.Int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	id := []byte("id: ")
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), id) {
			delivered.Add(1)
		}
	}
}
