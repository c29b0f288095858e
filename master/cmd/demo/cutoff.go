package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

// cutOff holds every link to and from the leader, so that what it
// appends from then on reaches no one, though it does not know it yet.
// It acknowledges t1..t3 at w=1 (at least t1: it takes writes until it
// has heard no follower for two heartbeats) and makes u1 at w=majority
// wait; once it is read-only it is killed, and its links reset, dropping
// what they held. That makes its w=1 tail certain, whatever the load: no
// follower can hold a byte of it. It returns the tail (what the leader's
// log held beyond before), when the leader turned read-only, and when it
// was killed.
func (d *demo) cutOff(ctx context.Context, fc *failoverCluster, leader *proc.Node, before []string) (tail []entry, readOnly, killed time.Time, err error) {
	for _, l := range fc.linksOf(leader) {
		l.Blackhole()
	}
	// No pause for DEMO_STEP until it is read-only: it takes writes for
	// two heartbeats at most.
	d.line(time.Now(), "%s is cut off: its links to and from every node forward nothing (it does not know yet)", leader.Name)
	if err := d.tailWrites(ctx, leader); err != nil {
		return nil, readOnly, killed, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: an early return ends u1's request
	defer cancel()
	u1 := make(chan result, 1)
	wg.Go(func() {
		r, err := d.appendTo(ctx, leader, "u1", "majority")
		u1 <- result{r, err}
	})
	d.line(time.Now(), "POST u1 w=majority to %s … waits: no follower receives it", leader.Name)
	if readOnly, err = d.awaitReadOnly(ctx, leader); err != nil {
		return nil, readOnly, killed, err
	}
	d.step(ctx, readOnly, "%s has heard no follower for 2 heartbeats: read-only, it refuses writes from here on", leader.Name)
	if tail, err = d.tailOf(ctx, fc, leader, before); err != nil {
		return nil, readOnly, killed, err
	}
	if err := leader.Kill(); err != nil {
		return nil, readOnly, killed, err
	}
	killed = time.Now()
	for _, l := range fc.linksOf(leader) {
		l.Reset()
	}
	// No pause either: a1 measures how long writes are refused.
	d.line(killed, "kill -9 %s (the leader); its links reset, dropping what they held", leader.Name)
	r := <-u1
	if r.err == nil && r.status == http.StatusCreated {
		return nil, readOnly, killed, fmt.Errorf("u1 (w=majority) was acknowledged by a cut-off leader: %s", r.body)
	}
	d.line(time.Now(), "   u1 (w=majority) was never acknowledged: %s", outcome(r))
	return tail, readOnly, killed, nil
}

// outcome is how a request ended that got no 201.
func outcome(r result) string {
	if r.err != nil {
		return "no answer, the leader died while it waited"
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// tailWrites appends t1..t3 at w=1 to the cut-off leader until it
// refuses one: it must acknowledge t1 at least (it turns read-only only
// after two silent heartbeats, 1 s after the last it heard).
func (d *demo) tailWrites(ctx context.Context, leader *proc.Node) error {
	for i, msg := range []string{"t1", "t2", "t3"} {
		r, err := d.appendTo(ctx, leader, msg, "1")
		if err != nil {
			return err
		}
		if r.status == http.StatusServiceUnavailable && i > 0 {
			d.line(r.at, "POST %s w=1 to %s → %d %s: it turned read-only already", msg, leader.Name, r.status, r.body)
			return nil
		}
		d.line(r.at, "POST %s w=1 to %s → %d %s (%s): acknowledged, on %s alone", msg, leader.Name, r.status, r.body, rounded(r.took), leader.Name)
		if r.status != http.StatusCreated || r.Acks != 1 {
			return fmt.Errorf("%s (w=1) to the cut-off leader answered %d %s, want 201 with 1 ack", msg, r.status, r.body)
		}
	}
	return nil
}

// awaitReadOnly waits until n refuses writes (read-only, or no longer
// leading), and says when it saw it.
func (d *demo) awaitReadOnly(ctx context.Context, n *proc.Node) (time.Time, error) {
	var at time.Time
	err := d.waitFor(ctx, func() error {
		var h struct{ Role, Status string }
		if err := n.GetJSON("/health", &h); err != nil {
			return err
		}
		at = time.Now()
		if h.Role == "master" && h.Status == "ok" {
			return fmt.Errorf("%s still takes writes", n.Name)
		}
		return nil
	})
	return at, err
}

// tailOf is what the cut-off leader's log holds beyond before; the
// others still show before alone.
func (d *demo) tailOf(ctx context.Context, fc *failoverCluster, leader *proc.Node, before []string) ([]entry, error) {
	log, err := entriesOf(leader)
	if err != nil {
		return nil, err
	}
	if len(log) <= len(before) {
		return nil, fmt.Errorf("%s holds %v: no tail beyond %v", leader.Name, log, before)
	}
	tail := log[len(before):]
	for _, n := range fc.without(leader) {
		if _, err := showsExactly(n, before); err != nil {
			return nil, fmt.Errorf("a follower got some of the cut-off leader's tail: %w", err)
		}
	}
	d.line(time.Now(), "   %s holds %v; the others hold %v", leader.Name, messages(log), before)
	return tail, nil
}

// electionBound bounds the wait for a standby to take over. One election
// takes FAILOVER_TIMEOUT to 1.5 × it; a second is held when the other
// standby stands before it has heard of the first one's leader, as
// happens (each failed round costs up to 2.5 × FAILOVER_TIMEOUT more).
const electionBound = 60 * time.Second

// takeOver writes a1 at w=majority to the live master-capable nodes in
// turn (a standby redirects to the leader it knows) until one is
// acknowledged: the new leader's first. Writes were refused from the old
// leader's read-only to then.
func (d *demo) takeOver(ctx context.Context, fc *failoverCluster, old *proc.Node, readOnly, killed time.Time) (*proc.Node, error) {
	live := fc.standbys(old)
	var r reply
	refused := map[string]int{}
	tries := 0
	wctx, cancel := context.WithTimeout(ctx, electionBound)
	defer cancel()
	err := poll.Until(wctx, func() error {
		var err error
		n := live[tries%len(live)]
		tries++
		if r, err = d.appendTo(ctx, n, "a1", "majority"); err == nil && r.status == http.StatusCreated {
			return nil
		}
		refused[refusal(r, err)]++
		return fmt.Errorf("a1 via %s: %d %s %v", n.Name, r.status, r.body, err)
	})
	if err != nil {
		return nil, fmt.Errorf("no standby took over: %w", err)
	}
	next, _, err := d.awaitLeader(ctx, fc.without(old))
	if err != nil {
		return nil, err
	}
	d.step(ctx, r.at, "POST a1 w=majority → %d %s (after %s)", r.status, r.body, summary(refused))
	if r.Acks < majority {
		return nil, fmt.Errorf("a1 (w=majority) answered %s, want %d acks", r.body, majority)
	}
	d.line(r.at, "   %s took over: writes were refused for %s (from %s's read-only; %s after the kill)",
		d.leaderLine(next), rounded(r.at.Sub(readOnly)), old.Name, rounded(r.at.Sub(killed)))
	return next, nil
}

// refusal names how a write was refused: its status, or "no answer".
func refusal(r reply, err error) string {
	if err != nil {
		return "no answer"
	}
	return strconv.Itoa(r.status)
}

// summary is "7 refusals: 503 ×6, no answer ×1", in a stable order.
func summary(refused map[string]int) string {
	if len(refused) == 0 {
		return "no refusal"
	}
	total := 0
	kinds := make([]string, 0, len(refused))
	for k, n := range refused {
		total += n
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s ×%d", k, refused[k])
	}
	if total == 1 {
		return "1 refusal: " + strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d refusals: %s", total, strings.Join(parts, ", "))
}
