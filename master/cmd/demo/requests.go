package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/replog/replog/master/internal/proc"
	"github.com/replog/replog/shared/poll"
)

// settle bounds every wait for a state a step describes.
const settle = 20 * time.Second

type reply struct {
	status int
	ID     uint64 `json:"id"`
	Acks   int    `json:"acks"`
	body   string
	took   time.Duration
	at     time.Time // when it arrived
}

func (d *demo) append(ctx context.Context, msg string, w int) (reply, error) {
	return d.appendTo(ctx, d.master, msg, strconv.Itoa(w))
}

// appendTo appends msg to n with write concern w: a number, or
// "majority". A standby's 307 to its leader is followed.
func (d *demo) appendTo(ctx context.Context, n *proc.Node, msg, w string) (reply, error) {
	wc := w
	if _, err := strconv.Atoi(w); err != nil {
		wc = strconv.Quote(w)
	}
	body := fmt.Sprintf(`{"message":%q,"writeConcern":%s}`, msg, wc)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/messages", strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("append %s: %w", msg, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: strings.TrimSpace(string(b)), at: time.Now()}
	r.took = r.at.Sub(start)
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("append %s: reply %q: %w", msg, b, err)
	}
	return r, nil
}

// rounded is d as the timeline shows it: to 0.1 ms below 10 ms, else to
// the millisecond.
func rounded(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// expect appends msg with write concern w and checks it returns 201 with
// at least w acks.
func (d *demo) expect(ctx context.Context, msg string, w int) (reply, error) {
	r, err := d.append(ctx, msg, w)
	if err != nil {
		return r, err
	}
	d.step(ctx, r.at, "POST %s w=%d → %d %s (%s)", msg, w, r.status, r.body, rounded(r.took))
	if r.status != http.StatusCreated || r.Acks < w {
		return r, fmt.Errorf("%s (w=%d) answered %d %s, want 201 with %d acks", msg, w, r.status, r.body, w)
	}
	return r, nil
}

func (d *demo) setFaults(ctx context.Context, name, change string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.master.URL()+"/secondaries/"+name+"/faults", strings.NewReader(change))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("fault control of %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.step(ctx, time.Now(), "PUT /secondaries/%s/faults %s → %d %s", name, change, resp.StatusCode, bytes.TrimSpace(b))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fault control of %s answered %d", name, resp.StatusCode)
	}
	return nil
}

// shows is what a node's GET /messages holds, as [m1 m2 …], and when the
// reply arrived.
func shows(n *proc.Node) ([]string, time.Time, error) {
	var page struct {
		Messages []struct {
			Message string `json:"message"`
		} `json:"messages"`
	}
	if err := proc.GetJSON(n.URL()+"/messages", &page); err != nil {
		return nil, time.Time{}, err
	}
	at := time.Now()
	out := make([]string, len(page.Messages))
	for i, m := range page.Messages {
		out[i] = m.Message
	}
	return out, at, nil
}

// showsExactly checks that n shows want, and says when it did.
func showsExactly(n *proc.Node, want []string) (time.Time, error) {
	got, at, err := shows(n)
	if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
		err = fmt.Errorf("%s shows %v, want %v", n.Name, got, want)
	}
	return at, err
}

// waitShows waits up to settle until n shows exactly want, and says when.
func (d *demo) waitShows(ctx context.Context, n *proc.Node, want ...string) (time.Time, error) {
	var at time.Time
	err := d.waitFor(ctx, func() (err error) {
		at, err = showsExactly(n, want)
		return err
	})
	return at, err
}

// snapshot waits up to settle until every node shows want, the state the
// step describes, and prints what they show. A replica holds a w=1
// append a moment after it returns (replication lingers), so looking
// once could catch it before.
func (d *demo) snapshot(ctx context.Context, want ...string) error {
	return d.snapshotOf(ctx, d.cluster.Nodes(), want...)
}

// snapshotOf is snapshot of nodes.
func (d *demo) snapshotOf(ctx context.Context, nodes []*proc.Node, want ...string) error {
	var at time.Time
	err := d.waitFor(ctx, func() error {
		for _, n := range nodes {
			t, err := showsExactly(n, want)
			if err != nil {
				return err
			}
			at = t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the nodes never showed %v: %w", want, err)
	}
	var parts []string
	for _, n := range nodes {
		parts = append(parts, fmt.Sprintf("%s %v", n.Name, want))
	}
	d.step(ctx, at, "   nodes show: %s", strings.Join(parts, "  "))
	return nil
}

func (d *demo) waitFor(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	return poll.Until(ctx, f)
}
