package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/replog/replog/master/internal/proc"
)

// comeBack restarts the old leader on its data directory: it finds where
// its log left the new leader's, moves its tail to rollback/ and
// follows. The rollback files must hold exactly the tail, at its ids, and
// no other node may have rolled anything back.
func (d *demo) comeBack(ctx context.Context, fc *failoverCluster, old, next *proc.Node, tail []entry) error {
	if _, err := d.expectAt(ctx, next, "a2", "1", ""); err != nil {
		return err
	}
	old.Env = append(old.Env, "CLUSTER_STATE=") // the first start only
	d.line(time.Now(), "%s comes back on its data directory", old.Name)
	if err := old.Start(); err != nil {
		return err
	}
	want, _, err := shows(next)
	if err != nil {
		return err
	}
	at, err := d.awaitFollows(ctx, old, next, want)
	if err != nil {
		return err
	}
	d.step(ctx, at, "%s follows %s as a standby: it shows %v", old.Name, next.Name, want)
	if err := d.rolledBack(old, tail); err != nil {
		return err
	}
	if err := d.failoverMetrics(old, next, len(tail)); err != nil {
		return err
	}
	return d.snapshotOf(ctx, fc.all(), want...)
}

// awaitFollows waits until n is a standby that names leader and shows
// want, and says when.
func (d *demo) awaitFollows(ctx context.Context, n, leader *proc.Node, want []string) (time.Time, error) {
	var at time.Time
	err := d.waitFor(ctx, func() error {
		var h struct{ Role string }
		if err := n.GetJSON("/health", &h); err != nil {
			return err
		}
		name, _, err := proc.LeaderOf(n)
		if err != nil {
			return err
		}
		if h.Role != "standby" || name != leader.Name {
			return fmt.Errorf("%s is %s, following %q", n.Name, h.Role, name)
		}
		at, err = showsExactly(n, want)
		return err
	})
	if err != nil {
		return at, fmt.Errorf("%s never followed %s: %w", n.Name, leader.Name, err)
	}
	return at, nil
}

// rolledBack prints where old's tail went and checks that the rollback
// files hold exactly it, and that no other node's do.
func (d *demo) rolledBack(old *proc.Node, tail []entry) error {
	files, err := filepath.Glob(filepath.Join(d.dataRoot, old.Name, "rollback", "*.jsonl"))
	if err != nil {
		return err
	}
	var got []entry
	for _, f := range files {
		es, err := readRollback(f)
		if err != nil {
			return err
		}
		d.line(time.Now(), "   %s rolled back %s %v to %s", old.Name, idRange(es), messages(es), f)
		got = append(got, es...)
	}
	if fmt.Sprint(got) != fmt.Sprint(tail) {
		return fmt.Errorf("%s's rollback files hold %v; its tail was %v", old.Name, got, tail)
	}
	others, _ := filepath.Glob(filepath.Join(d.dataRoot, "*", "rollback", "*.jsonl"))
	secondaries, _ := filepath.Glob(filepath.Join(d.dataRoot, "*", "node-*", "rollback", "*.jsonl"))
	if extra := len(others) + len(secondaries) - len(files); extra != 0 {
		return fmt.Errorf("%d rollback files beside %s's: %v %v", extra, old.Name, others, secondaries)
	}
	return nil
}

// failoverMetrics checks and prints the counters the failover alerts
// watch: the promotion on the new leader, the rollback on the old one.
func (d *demo) failoverMetrics(old, next *proc.Node, rolled int) error {
	promotions, err := metric(next, `replog_promotions_total{reason="failover"}`)
	if err != nil {
		return err
	}
	back, err := metric(old, "replog_rolled_back_messages_total")
	if err != nil {
		return err
	}
	d.line(time.Now(), `   metrics: %s replog_promotions_total{reason="failover"} %g, %s replog_rolled_back_messages_total %g`,
		next.Name, promotions, old.Name, back)
	if promotions < 1 || back != float64(rolled) {
		return fmt.Errorf("the metrics say %g promotions and %g messages rolled back, want ≥ 1 and %d", promotions, back, rolled)
	}
	return nil
}

// entry is a log entry as GET /messages and rollback files show it.
type entry struct {
	ID      uint64 `json:"id"`
	Message string `json:"message"`
}

func (e entry) String() string { return fmt.Sprintf("%d:%s", e.ID, e.Message) }

// entriesOf is n's log, from its GET /messages.
func entriesOf(n *proc.Node) ([]entry, error) {
	var page struct {
		Messages []entry `json:"messages"`
	}
	if err := proc.GetJSON(n.URL()+"/messages", &page); err != nil {
		return nil, err
	}
	return page.Messages, nil
}

// messages is es's messages, as [t1 t2].
func messages(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

// idRange is "ids 3–6", or "id 3".
func idRange(es []entry) string {
	switch len(es) {
	case 0:
		return "nothing"
	case 1:
		return fmt.Sprintf("id %d", es[0].ID)
	}
	return fmt.Sprintf("ids %d–%d", es[0].ID, es[len(es)-1].ID)
}

// readRollback reads a rollback file: one JSON line per message.
func readRollback(name string) ([]entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var es []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", name, sc.Text(), err)
		}
		es = append(es, e)
	}
	return es, sc.Err()
}

// metric is the value of the sample named series (name{labels} exactly
// as exposed) in n's /metrics.
func metric(n *proc.Node, series string) (float64, error) {
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s exposes no %s", n.Name, series)
}
