package clustertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/replog/replog/shared/frame"
)

// foWrite is one message a failover chaos writer sent (with one
// Idempotency-Key, however often retried), and what it learned.
type foWrite struct {
	msg      string
	majority bool   // writeConcern "majority", else 1
	acked    bool   // a 201 or 200 came back
	id       uint64 // the id it gave
	// stores counts the attempts that may have stored it: 0 is refused
	// for sure (every reply a 503 without an id); 2 or more, it may be
	// in logs twice, maybe at one id in two epochs, which the HTTP API
	// does not show.
	stores int
	held   []foEntry // (node, id) pairs replies said stored it: 201, 200, 504, a deposed 503
	call   int64     // the first attempt's start
	ret    int64     // the acknowledgement's arrival; neverReturned without one
}

// foEntry is a message at an id on a node.
type foEntry struct {
	node string
	id   uint64
}

// foRead is a read of a node's log from id from.
type foRead struct {
	node      string
	from      uint64
	entries   []frame.Entry
	call, ret int64
}

// foReport is the failover checker's count, printed on every run as
// Jepsen prints its checkers' results, zeros included.
type foReport struct {
	// Must be 0.
	lostMajority int // acknowledged at a majority, not in the final log
	conflicting  int // an id acknowledged at a majority holds another message in the end, or a write moved
	duplicated   int // in the final log twice
	reordered    int // acknowledged before another began, yet after it in the final log
	unexpected   int // in the final log, never written or refused for sure
	badReads     int // a read not gap-free, or showing an append before its call
	rbMissing    int // a node held an entry that left its log, and its rollback files lack it
	rbAcked      int // a rollback file holds a write acknowledged at a majority (sent once)
	// Counted, allowed.
	majorityAcked, w1Acked, w1RolledBack int
	unknownKept, unknownGone             int
	reads, staleReads, staleCommitted    int // reads; of them, showing a tail that left the log; at a committed id
	rolledBack                           int // entries in rollback files
	examples                             []string
}

func (r *foReport) bad(n *int, format string, args ...any) {
	*n++
	if len(r.examples) < 6 {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

func (r *foReport) failed() bool {
	return r.lostMajority+r.conflicting+r.duplicated+r.reordered+r.unexpected+r.badReads+r.rbMissing+r.rbAcked > 0
}

func (r *foReport) String() string {
	return fmt.Sprintf("majority-acknowledged lost %d, ids holding another message %d, duplicated %d, reordered %d, unexpected %d, "+
		"reads not a prefix %d, rollback files missing an entry that left a log %d, "+
		"majority-acknowledged in rollback files %d; "+
		"acknowledged at a majority %d; w=1 acknowledged %d, rolled back %d; unknown outcomes %d in the log, %d not; "+
		"reads %d, showing a tail that left the log %d (at an id already committed %d); entries in rollback files %d",
		r.lostMajority, r.conflicting, r.duplicated, r.reordered, r.unexpected, r.badReads, r.rbMissing, r.rbAcked,
		r.majorityAcked, r.w1Acked, r.w1RolledBack, r.unknownKept, r.unknownGone,
		r.reads, r.staleReads, r.staleCommitted, r.rolledBack)
}

func sameEntry(a, b frame.Entry) bool {
	return a.ID == b.ID && a.Message == b.Message && (a.Epoch == b.Epoch || a.Epoch == 0 || b.Epoch == 0)
}

// checkFailover judges a failover chaos history against the final log
// every node holds (rollbacks: each node's rollback files). A write
// acknowledged at a majority is a linearization point: it must be in
// the final log at its id, in real-time order. A w=1 write may be rolled
// back (counted). A write of unknown outcome is settled by the final
// log. A read is of one node, maybe a deposed leader or a lagging one:
// it must agree with the final log up to what was committed before it
// began, and show nothing appended after it ended. Whatever a node was
// seen holding that is not in the final log must be in its rollback
// files, and no majority-acknowledged write may be there.
func checkFailover(final []frame.Entry, writes []*foWrite, reads []foRead, rollbacks map[string][]frame.Entry) foReport {
	var r foReport
	at := map[string]int{} // message → index in final
	for i, e := range final {
		if _, dup := at[e.Message]; dup {
			r.bad(&r.duplicated, "%q twice in the final log", e.Message)
			continue
		}
		at[e.Message] = i
	}
	in := func(id uint64, msg string) bool {
		return id >= 1 && int(id) <= len(final) && final[id-1].Message == msg
	}
	written := map[string]*foWrite{}
	majorityAt := map[uint64]string{}
	for _, w := range writes {
		written[w.msg] = w
		i, kept := at[w.msg]
		switch {
		case w.acked && w.majority:
			r.majorityAcked++
			if other, ok := majorityAt[w.id]; ok && other != w.msg {
				r.bad(&r.conflicting, "id %d acknowledged at a majority for %q and for %q", w.id, other, w.msg)
			}
			majorityAt[w.id] = w.msg
			if !kept {
				r.bad(&r.lostMajority, "%q acknowledged at a majority at id %d is not in the final log", w.msg, w.id)
			} else if !in(w.id, w.msg) {
				r.bad(&r.conflicting, "%q acknowledged at a majority at id %d sits at %d", w.msg, w.id, i+1)
			}
		case w.acked:
			r.w1Acked++
			if !in(w.id, w.msg) {
				r.w1RolledBack++
				if kept {
					r.bad(&r.conflicting, "%q acknowledged at w=1 at id %d sits at %d", w.msg, w.id, i+1)
				}
			}
		case w.stores == 0 && kept:
			r.bad(&r.unexpected, "%q was refused for sure, yet is in the log", w.msg)
		case kept:
			r.unknownKept++
		default:
			r.unknownGone++
		}
	}
	for _, e := range final {
		if written[e.Message] == nil {
			r.bad(&r.unexpected, "%q is in the log, never written", e.Message)
		}
	}
	latest := latestCalls(final, writes)
	r.reordered = reorderedWrites(final, writes, latest, &r)
	checkReads(&r, final, writes, reads, latest, in)
	checkRollbacks(&r, final, writes, reads, rollbacks, in)
	return r
}

// latestCalls is, for each index i of final, the latest call among the
// writes of final[:i+1]: an entry cannot be stored before them.
func latestCalls(final []frame.Entry, writes []*foWrite) []int64 {
	calls := map[string]int64{}
	for _, w := range writes {
		calls[w.msg] = w.call
	}
	latest := make([]int64, len(final))
	for i, e := range final {
		latest[i] = calls[e.Message]
		if i > 0 {
			latest[i] = max(latest[i], latest[i-1])
		}
	}
	return latest
}

// once is the messages stored by one attempt at most: a read or a reply
// that shows one at an id of the final log shows the final log's entry,
// and so, the log being a chain, all of the final log below it.
func once(writes []*foWrite) map[string]bool {
	m := map[string]bool{}
	for _, w := range writes {
		m[w.msg] = w.stores <= 1
	}
	return m
}

// reorderedWrites counts the acknowledged writes (at a majority, or
// stored once) in the final log at their id below which sits a write
// that began after the acknowledgement.
func reorderedWrites(final []frame.Entry, writes []*foWrite, latest []int64, r *foReport) int {
	n := 0
	for _, w := range writes {
		i := int(w.id) - 1
		if !w.acked || (!w.majority && w.stores > 1) || i < 1 || i >= len(final) || final[i].Message != w.msg {
			continue
		}
		if latest[i-1] > w.ret {
			n++
			r.bad(new(int), "%q was acknowledged at id %d before a write below it began", w.msg, w.id)
		}
	}
	return n
}

// checkReads: each read is gap-free from its from, and a prefix: of the
// final log up to where it shows a tail that later left the node's log
// (checkRollbacks judges that tail), and of what had happened (nothing
// below the highest entry it shows of a message stored once began after
// the read ended). A read of a deposed leader or of a node not yet
// rolled back may show its old tail even at ids a majority had
// acknowledged before the read began: counted, allowed.
func checkReads(r *foReport, final []frame.Entry, writes []*foWrite, reads []foRead, latest []int64, in func(uint64, string) bool) {
	var acks []ack
	for _, w := range writes {
		if w.acked && w.majority {
			acks = append(acks, ack{w.ret, w.id})
		}
	}
	committed := committedBefore(acks)
	single := once(writes)
	for _, rd := range reads {
		r.reads++
		var anchor uint64
		for i, e := range rd.entries {
			if e.ID != rd.from+uint64(i) {
				r.bad(&r.badReads, "%s read from %d shows id %d at position %d", rd.node, rd.from, e.ID, i)
				break
			}
			if !in(e.ID, e.Message) || !sameEntry(e, final[e.ID-1]) {
				r.staleReads++
				if e.ID <= committed(rd.call) {
					r.staleCommitted++
				}
				break
			}
			if single[e.Message] {
				anchor = e.ID
			}
		}
		if anchor > 0 && latest[anchor-1] > rd.ret {
			r.bad(&r.badReads, "%s read shows id %d, yet a write at or below it began after the read ended", rd.node, anchor)
		}
	}
}

// ack is a majority acknowledgement: when it came, and of which id.
type ack struct {
	ret int64
	id  uint64
}

// committedBefore returns what was committed before a time: the highest
// id acknowledged at a majority before it.
func committedBefore(acks []ack) func(t int64) uint64 {
	slices.SortFunc(acks, func(a, b ack) int { return cmp.Compare(a.ret, b.ret) })
	highest := make([]uint64, len(acks)) // highest[i]: the highest id of acks[:i+1]
	for i, a := range acks {
		highest[i] = a.id
		if i > 0 {
			highest[i] = max(highest[i], highest[i-1])
		}
	}
	return func(t int64) uint64 {
		k, _ := slices.BinarySearchFunc(acks, t, func(a ack, t int64) int { return cmp.Compare(a.ret, t) })
		if k == 0 {
			return 0
		}
		return highest[k-1]
	}
}

// checkRollbacks: an entry a node was seen holding (in a read of it, or
// a reply it gave) that is not in the final log at its id left that
// node's log, so the node's rollback files must hold it; none of them
// may hold a write acknowledged at a majority.
func checkRollbacks(r *foReport, final []frame.Entry, writes []*foWrite, reads []foRead,
	rollbacks map[string][]frame.Entry, in func(uint64, string) bool) {
	type held struct {
		id  uint64
		msg string
	}
	files := map[string]map[held]bool{}
	for node, es := range rollbacks {
		files[node] = map[held]bool{}
		for _, e := range es {
			r.rolledBack++
			files[node][held{e.ID, e.Message}] = true
		}
	}
	seen := map[string]map[held]bool{}
	see := func(node string, id uint64, msg string) {
		if in(id, msg) {
			return
		}
		if seen[node] == nil {
			seen[node] = map[held]bool{}
		}
		seen[node][held{id, msg}] = true
	}
	for _, rd := range reads {
		for _, e := range rd.entries {
			see(rd.node, e.ID, e.Message)
		}
	}
	for _, w := range writes {
		for _, h := range w.held {
			see(h.node, h.id, w.msg)
		}
		// An earlier attempt's copy, of another epoch maybe at the same
		// id, may rightly have been rolled back: only a write stored once
		// is judged.
		if w.acked && w.majority && w.stores == 1 {
			for node, f := range files {
				if f[held{w.id, w.msg}] {
					r.bad(&r.rbAcked, "%s rolled back %q, acknowledged at a majority at id %d", node, w.msg, w.id)
				}
			}
		}
	}
	for node, hs := range seen {
		for h := range hs {
			if !files[node][h] {
				r.bad(&r.rbMissing, "%s held %q at id %d, which left its log, and its rollback files lack it", node, h.msg, h.id)
			}
		}
	}
}

// prefixModel is logModel for a cluster whose leader changes: appends as
// there (each at its place in the final log), but a read, of any node,
// maybe a deposed leader or a lagging one, need only be a prefix: of the
// final log, up to where it shows a tail that later left the log (the
// rollback checks judge that), and of what had happened: its highest
// entry of a message stored once (single: so the final log's entry, not
// another copy at the same id in another epoch) is among the first n.
func prefixModel(final []frame.Entry, single map[string]bool) porcupine.Model {
	return (&porcupine.NondeterministicModel{
		Init: func() []any { return []any{0} },
		Step: func(state, input, output any) []any {
			n := state.(int)
			switch in := input.(type) {
			case appendIn:
				return appendStep(final, n, in, output.(appendOut))
			case readIn:
				anchor := 0
				for i, e := range output.([]frame.Entry) {
					if e.ID != in.from+uint64(i) {
						return nil
					}
					if int(e.ID) > len(final) || !sameEntry(e, final[e.ID-1]) {
						break // a tail that left the log; checkRollbacks judges it
					}
					if single[e.Message] {
						anchor = int(e.ID)
					}
				}
				if anchor > n {
					return nil // shown before it happened
				}
				return []any{n}
			}
			return nil
		},
		DescribeOperation: describeOperation,
		DescribeState:     func(state any) string { return fmt.Sprintf("%d entries", state.(int)) },
	}).ToModel()
}

// foOperations are the writes and reads as porcupine operations: a
// write acknowledged at a majority returns at its acknowledgement, with
// its id, wherever the message ended; one acknowledged at w=1 and in the
// final log at its id, stored once, likewise; any other write in the final log
// happened at its id some time after its call; a write not there is
// left out (the set checks count it); a read is of one node, from.
func foOperations(final []frame.Entry, writes []*foWrite, reads []foRead) []porcupine.Operation {
	at := make(map[string]uint64, len(final))
	for _, e := range final {
		at[e.Message] = e.ID
	}
	var ops []porcupine.Operation
	for i, w := range writes {
		id, kept := at[w.msg]
		ret := int64(neverReturned)
		switch {
		case w.acked && w.majority:
			id, ret = w.id, w.ret // a linearization point, wherever the message ended
		case !kept:
			continue
		case w.acked && w.id == id && w.stores == 1:
			ret = w.ret
		}
		ops = append(ops, porcupine.Operation{ClientId: i, Input: appendIn{w.msg}, Output: appendOut{id: id}, Call: w.call, Return: ret})
	}
	for i, rd := range reads {
		ops = append(ops, porcupine.Operation{ClientId: len(writes) + i, Input: readIn{from: rd.from, limit: len(rd.entries)},
			Output: rd.entries, Call: rd.call, Return: rd.ret})
	}
	return ops
}

// linearizable runs porcupine over the history; on failure it writes
// its visualization to a file it names.
func linearizable(t *testing.T, final []frame.Entry, writes []*foWrite, reads []foRead, limit time.Duration) {
	t.Helper()
	model := prefixModel(final, once(writes))
	switch res, drawn := checkPorcupine(t, model, foOperations(final, writes, reads), limit, "chaos-failover"); res {
	case porcupine.Illegal:
		appendsAlone := porcupine.CheckOperations(model, foOperations(final, writes, nil))
		t.Errorf("the history is not linearizable against the final log (its appends alone: %v); porcupine's visualization: %s",
			map[bool]string{true: "linearizable", false: "not linearizable"}[appendsAlone], drawn)
	case porcupine.Unknown:
		t.Errorf("porcupine gave up after %s: the history is not checked", limit)
	}
}

// maxVisualized is the most operations a failing history is drawn for
// (a default chaos run has about 10 000).
const maxVisualized = 50_000

// maxChecked is the most operations porcupine is given (a 10-minute soak
// has about 200 000).
const maxChecked = 250_000

// checkPorcupine checks ops against model within limit and, when they are
// not linearizable, says where it drew them (a file named for name) or
// why not. The verbose check keeps, for every operation, the longest
// linearizable prefix that holds it: memory that grows with the square of
// a soak's history (a 30-minute one, half a million operations, starved
// the machine). So the plain check decides, and the verbose one only
// draws a failure, for histories small enough to draw.
//
// Past maxChecked operations it does not run at all, and says so: the plain
// check of a 30-minute soak's half a million operations filled 24 GiB too.
// The soak's other checks still run; every run of the default length is
// checked in full.
func checkPorcupine(t *testing.T, model porcupine.Model, ops []porcupine.Operation, limit time.Duration, name string) (porcupine.CheckResult, string) {
	t.Helper()
	if len(ops) > maxChecked {
		t.Logf("porcupine: NOT run: %d operations, more than the %d it can check in memory here; run a shorter soak to have it", len(ops), maxChecked)
		return porcupine.Ok, ""
	}
	res := porcupine.CheckOperationsTimeout(model, ops, limit)
	if res != porcupine.Illegal {
		return res, ""
	}
	if len(ops) > maxVisualized {
		return res, fmt.Sprintf("not drawn: %d operations are too many; rerun with the seed and a shorter duration", len(ops))
	}
	_, info := porcupine.CheckOperationsVerbose(model, ops, limit)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("replog-%s-%d.html", name, time.Now().UnixNano()))
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Errorf("writing the visualization: %v", err)
	}
	return res, path
}

// rollbackFiles reads a node's rollback files: DATA_DIR/rollback on a
// master-capable node, DATA_DIR/node-N/rollback on a secondary.
func rollbackFiles(dataDir string) ([]frame.Entry, error) {
	a, _ := filepath.Glob(filepath.Join(dataDir, "rollback", "*.jsonl"))
	b, _ := filepath.Glob(filepath.Join(dataDir, "node-*", "rollback", "*.jsonl"))
	var es []frame.Entry
	for _, f := range append(a, b...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			var e frame.Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", f, line, err)
			}
			es = append(es, e)
		}
	}
	return es, nil
}

// TestFailoverHistoryChecker: each count of the failover checker finds
// what it is for in a history made by hand, and a clean history with a
// deposed leader's stale read and a rolled-back w=1 write passes.
func TestFailoverHistoryChecker(t *testing.T) {
	e := func(id uint64, msg string) frame.Entry { return frame.Entry{ID: id, Message: msg} }
	final := []frame.Entry{e(1, "a"), e(2, "b"), e(3, "c")}
	clean := func() ([]*foWrite, []foRead, map[string][]frame.Entry) {
		return []*foWrite{
				{msg: "a", majority: true, acked: true, id: 1, stores: 1, call: 0, ret: 10, held: []foEntry{{"m1", 1}}},
				{msg: "x", acked: true, id: 2, stores: 1, call: 5, ret: 12, held: []foEntry{{"m1", 2}}}, // w=1 on m1, deposed
				{msg: "b", majority: true, acked: true, id: 2, stores: 1, call: 15, ret: 30, held: []foEntry{{"m2", 2}}},
				{msg: "c", stores: 1, call: 31, ret: neverReturned}, // unknown, kept
				{msg: "d", stores: 1, call: 31, ret: neverReturned}, // unknown, gone
			}, []foRead{
				{node: "m1", from: 1, entries: []frame.Entry{e(1, "a"), e(2, "x")}, call: 35, ret: 36}, // stale
				{node: "m2", from: 1, entries: []frame.Entry{e(1, "a"), e(2, "b"), e(3, "c")}, call: 40, ret: 41},
			}, map[string][]frame.Entry{"m1": {e(2, "x")}}
	}
	w, r, rb := clean()
	got := checkFailover(final, w, r, rb)
	if got.failed() || got.w1RolledBack != 1 || got.unknownKept != 1 || got.unknownGone != 1 || got.staleCommitted != 1 {
		t.Fatalf("a clean history: %s; %q", &got, got.examples)
	}
	if !porcupine.CheckOperations(prefixModel(final, once(w)), foOperations(final, w, r)) {
		t.Fatal("porcupine refused a clean history")
	}
	cases := []struct {
		name   string
		break_ func(w []*foWrite, r []foRead, rb map[string][]frame.Entry) []frame.Entry
		count  func(r *foReport) int
	}{
		{"lost", func(w []*foWrite, _ []foRead, _ map[string][]frame.Entry) []frame.Entry {
			return []frame.Entry{e(1, "a"), e(2, "c")}
		}, func(r *foReport) int { return r.lostMajority }},
		{"another message at a majority's id", func(w []*foWrite, _ []foRead, _ map[string][]frame.Entry) []frame.Entry {
			w[1].majority = true // x at 2, as b was
			return final
		}, func(r *foReport) int { return r.conflicting }},
		{"duplicated", func([]*foWrite, []foRead, map[string][]frame.Entry) []frame.Entry {
			return append(slices.Clone(final), e(4, "a"))
		}, func(r *foReport) int { return r.duplicated }},
		{"reordered", func(w []*foWrite, _ []foRead, _ map[string][]frame.Entry) []frame.Entry {
			w[0].call, w[0].ret = 50, 60 // a began after b was acknowledged, yet sits first
			return final
		}, func(r *foReport) int { return r.reordered }},
		{"never written", func([]*foWrite, []foRead, map[string][]frame.Entry) []frame.Entry {
			return append(slices.Clone(final), e(4, "z"))
		}, func(r *foReport) int { return r.unexpected }},
		{"read before the append", func(_ []*foWrite, r []foRead, _ map[string][]frame.Entry) []frame.Entry {
			r[1].call, r[1].ret = 20, 25 // shows c, whose append began at 31
			return final
		}, func(r *foReport) int { return r.badReads }},
		{"rollback file lacks a tail", func(_ []*foWrite, _ []foRead, rb map[string][]frame.Entry) []frame.Entry {
			delete(rb, "m1")
			return final
		}, func(r *foReport) int { return r.rbMissing }},
		{"majority write rolled back", func(_ []*foWrite, _ []foRead, rb map[string][]frame.Entry) []frame.Entry {
			rb["s1"] = []frame.Entry{e(1, "a")}
			return final
		}, func(r *foReport) int { return r.rbAcked }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, r, rb := clean()
			f := c.break_(w, r, rb)
			got := checkFailover(f, w, r, rb)
			if c.count(&got) == 0 || !got.failed() {
				t.Fatalf("not counted: %s", &got)
			}
		})
	}
	// Porcupine sees a lost majority write too.
	w, r, _ = clean()
	if lost := []frame.Entry{e(1, "a"), e(2, "c")}; porcupine.CheckOperations(prefixModel(lost, once(w)), foOperations(lost, w, r)) {
		t.Fatal("porcupine passed a history that lost a write acknowledged at a majority")
	}
	// Porcupine alone: a read showing c before its append began.
	_, r, _ = clean()
	r[1].call, r[1].ret = 20, 25
	if porcupine.CheckOperations(prefixModel(final, once(w)), foOperations(final, w, r)) {
		t.Fatal("porcupine passed a read that showed an append before its call")
	}
}
