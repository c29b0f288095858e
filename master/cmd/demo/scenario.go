package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/replog/replog/master/internal/proc"
)

// run plays the scenario; note says how to watch it.
func (d *demo) run(ctx context.Context, note string) error {
	var err error
	if d.master, err = d.startNode("master", proc.Master, "MASTER_PORT", 8080, "CLUSTER_SIZE=3", "HEARTBEAT_INTERVAL=500ms"); err != nil {
		return err
	}
	fmt.Printf("replog demo — watch it live: %s/\n%s\n\n", d.master.URL(), note)
	d.step(ctx, time.Now(), "master started on %s (CLUSTER_SIZE=3, quorum 2)", d.master.Addr)
	s1, err := d.startNode("s1", proc.Secondary, "S1_PORT", 8081)
	if err != nil {
		return err
	}
	d.step(ctx, time.Now(), "S1 started and connected")
	if _, err := d.expect(ctx, "m1", 1); err != nil {
		return err
	}
	if _, err := d.expect(ctx, "m2", 2); err != nil {
		return err
	}
	if err := d.waitingWrite(ctx, s1); err != nil {
		return err
	}
	if err := d.slowSecondary(ctx); err != nil {
		return err
	}
	return d.failover(ctx)
}

type result struct {
	reply
	err error
}

// waitingWrite plays m3 (w=3), which waits while only the master and S1
// hold it, m4 (w=1) returning meanwhile, and S2 joining to complete m3.
func (d *demo) waitingWrite(ctx context.Context, s1 *proc.Node) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: an early return ends m3's request
	defer cancel()
	m3 := make(chan result, 1)
	wg.Go(func() {
		r, err := d.append(ctx, "m3", 3)
		m3 <- result{r, err}
	})
	at, err := d.waitShows(ctx, s1, "m1", "m2", "m3")
	if err != nil {
		return err
	}
	d.step(ctx, at, "POST m3 w=3 … waits: S1 holds it, but only the master and S1 can")
	if _, err := d.expect(ctx, "m4", 1); err != nil {
		return err
	}
	select {
	case r := <-m3:
		return fmt.Errorf("m3 (w=3) returned with one secondary: %d %s %v", r.status, r.body, r.err)
	default:
		d.line(time.Now(), "   m3 is still waiting while m4 returned")
	}
	if err := d.snapshot(ctx, "m1", "m2", "m3", "m4"); err != nil {
		return err
	}

	// Stamped before it starts: its ack may complete m3 before the
	// check that it is connected has seen it connect.
	d.line(time.Now(), "S2 starts: it catches up from id 1")
	s2, err := d.startNode("s2", proc.Secondary, "S2_PORT", 8082)
	if err != nil {
		return err
	}
	var r result
	select {
	case r = <-m3:
	case <-time.After(settle):
		return errors.New("m3 (w=3) did not return once S2 joined")
	}
	if r.err != nil {
		return r.err
	}
	d.step(ctx, r.at, "POST m3 w=3 → %d %s (%s): S2's ack completed it", r.status, r.body, rounded(r.took))
	if r.status != http.StatusCreated || r.Acks != 3 {
		return fmt.Errorf("m3 answered %d %s, want 201 with 3 acks", r.status, r.body)
	}
	if at, err = d.waitShows(ctx, s2, "m1", "m2", "m3", "m4"); err != nil {
		return err
	}
	d.line(at, "   S2 shows [m1 m2 m3 m4], in the master's order")
	return d.snapshot(ctx, "m1", "m2", "m3", "m4")
}

// slowSecondary slows S1 through fault control: a w=3 append waits about
// that long; healed, the next one does not.
func (d *demo) slowSecondary(ctx context.Context) error {
	const slow = 1500 * time.Millisecond
	if err := d.setFaults(ctx, "s1", fmt.Sprintf(`{"replicationDelay":"%s"}`, slow)); err != nil {
		return err
	}
	r, err := d.expect(ctx, "m5", 3)
	if err != nil {
		return err
	}
	if r.took < slow*3/4 {
		return fmt.Errorf("m5 (w=3) took %s with S1 slowed by %s; it should have waited for S1", r.took, slow)
	}
	d.line(r.at, "   m5 waited %s for slow S1", rounded(r.took))
	if err := d.setFaults(ctx, "s1", `{"replicationDelay":"0"}`); err != nil {
		return err
	}
	if _, err := d.expect(ctx, "m6", 3); err != nil {
		return err
	}
	return d.snapshot(ctx, "m1", "m2", "m3", "m4", "m5", "m6")
}
