package election_test

// The checker: the invariants of docs/FAILOVER.md, verified on the
// whole simulated cluster after every step.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// checkSwitchover: a standby that stood at a handoff and now leads holds
// everything its old leader held, unless another leader came between. A
// failover may win the switchover's epoch instead (a standby cut off from
// the leader stood for it too): that winner owes only what any failover
// owes, which the other checks hold it to.
func (s *sim) checkSwitchover(n *node, e uint64) {
	rec := s.switchovers[e]
	if rec == nil || rec.lapsed || rec.to != n.name {
		return
	}
	for between := rec.epoch + 1; between < e; between++ {
		if _, ok := s.leaderOf[between]; ok {
			return
		}
	}
	s.stats.switched++
	final := rec.final
	if final == nil {
		final = s.byName[rec.from].disk.log // it still believes it leads
	}
	if uint64(len(final)) > n.last() || !slices.Equal(n.disk.log[:len(final)], final) {
		s.fail("switchover %s → %s lost writes: %s held %v, %s leads epoch %d with %v", rec.from, n.name, rec.from, final, n.name, e, n.disk.log)
	}
}

// check verifies the invariants on the whole cluster.
func (s *sim) check() error {
	if s.violation != "" {
		return fmt.Errorf("%s", s.violation)
	}
	for _, n := range s.nodes {
		if err := s.checkNode(n); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	return nil
}

func (s *sim) checkNode(n *node) error {
	// Every write acknowledged at a majority is at its id in the log of
	// every leader of its epoch or a later one.
	if n.up && n.role == leader {
		for id, a := range s.committed {
			if a.epoch > n.lead.Epoch() {
				continue
			}
			if id > n.last() || n.disk.log[id-1].Msg != a.msg {
				return fmt.Errorf("leader of epoch %d lacks %q, acknowledged at id %d at w=%d in epoch %d", n.lead.Epoch(), a.msg, id, a.w, a.epoch)
			}
		}
	}
	// ... and never rolled back anywhere.
	for _, e := range n.disk.rollback[s.rbChecked[n.name]:] {
		if a, ok := s.committed[e.ID]; ok && a.msg == e.Msg {
			return fmt.Errorf("rolled back %q at id %d, acknowledged at w=%d in epoch %d", e.Msg, e.ID, a.w, a.epoch)
		}
	}
	s.rbChecked[n.name] = len(n.disk.rollback)
	if n.checked == n.disk.changes {
		return nil // nothing below changed since the last check
	}
	n.checked = n.disk.changes
	// The log is one history: each entry is the one its epoch's leader
	// wrote there, with the epoch the node's history gives it, and the
	// history is the one the leader of its last epoch started with.
	h := n.disk.hist
	for i, e := range n.disk.log {
		if e.ID != uint64(i+1) {
			return fmt.Errorf("id %d at position %d", e.ID, i+1)
		}
		if h.Of(e.ID) != e.Epoch {
			return fmt.Errorf("id %d is of epoch %d, its history %v says %d", e.ID, e.Epoch, h, h.Of(e.ID))
		}
		if s.written[e.Epoch][e.ID] != e.Msg {
			return fmt.Errorf("holds %q at id %d of epoch %d, whose leader wrote %q there: a mixed log", e.Msg, e.ID, e.Epoch, s.written[e.Epoch][e.ID])
		}
	}
	if last := h.Last(); last > 0 {
		if !slices.Equal(h, s.leaderHist[last]) {
			return fmt.Errorf("history %v is not %v, the one the leader of epoch %d started with", h, s.leaderHist[last], last)
		}
		if first := h[len(h)-1].FirstID; n.last()+1 < first {
			return fmt.Errorf("claims epoch %d started at %d but holds only up to %d", last, first, n.last())
		}
	}
	// The rollback files hold exactly what left the log.
	got := append(slices.Clone(n.disk.log), n.disk.rollback...)
	want := slices.Clone(s.ghost[n.name])
	byKey := func(a, b entry) int { return cmp.Or(cmp.Compare(a.Msg, b.Msg), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(got, byKey)
	slices.SortFunc(want, byKey)
	if !slices.Equal(got, want) {
		return fmt.Errorf("log and rollback %v are not what was appended %v", got, want)
	}
	return nil
}

// runSim takes steps and checks after each; the error names the seed and
// the last steps, so that a failure replays exactly.
func runSim(seed uint64, steps int) (stats, error) {
	s := newSim(seed)
	for i := range steps {
		s.step()
		if err := s.check(); err != nil {
			return s.stats, fmt.Errorf("seed %d, step %d (%d nodes, %d master-capable): %w\nlast steps:\n%s\nnodes:\n%s",
				seed, i, len(s.nodes), s.masters(), err, strings.Join(s.trace, "\n"), s.dump())
		}
	}
	return s.stats, nil
}

func (s *sim) masters() int {
	n := 0
	for _, x := range s.nodes {
		if x.master {
			n++
		}
	}
	return n
}

func (s *sim) dump() string {
	var b strings.Builder
	for _, n := range s.nodes {
		fmt.Fprintf(&b, "  %s up=%v role=%v promise=%v hist=%v log=%v rollback=%v\n", n.name, n.up, n.role, n.disk.promise, n.disk.hist, n.disk.log, n.disk.rollback)
	}
	return b.String()
}
