package clustertest

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/replog/replog/shared/frame"
)

// history records every operation of a chaos run with its invoke and
// complete times, for the checks after it.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation // appends and reads of the master
	reads []secondaryRead       // reads of the secondaries
	acked []ackedWrite          // w-replies, with the secondaries that showed them
}

// appendIn is an append's input; appendOut its outcome: the id a reply
// gave, or unknown (no reply said; it may or may not have happened).
type appendIn struct{ msg string }
type appendOut struct {
	id      uint64
	unknown bool
}

// readIn is a read of the master from id from, at most limit entries;
// its output is the entries it returned.
type readIn struct {
	from  uint64
	limit int
}

type secondaryRead struct {
	name    string
	from    uint64
	entries []frame.Entry
}

type ackedWrite struct {
	msg   string
	id    uint64
	w     int
	shown int // secondaries that held it right after the reply
}

func newHistory() *history { return &history{start: time.Now()} }

// now is a timestamp for porcupine: nanoseconds since the run began.
func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in, out any, call, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

func (h *history) secondaryRead(r secondaryRead) {
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

func (h *history) ackedWrite(a ackedWrite) {
	h.mu.Lock()
	h.acked = append(h.acked, a)
	h.mu.Unlock()
}

// neverReturned is the return time of an append whose outcome is
// unknown: as in etcd's robustness tests, it may take effect at any time
// after its call, or never.
const neverReturned = int64(1) << 62

// logModel is an append-only log judged against the log the master holds
// at the end (final): a state is how many of final's entries exist. An
// append with an id must be the next entry, and be final's entry there;
// an unknown append forks: it happened (if final has it next) or not; a
// read must return exactly final's entries from its from on, up to the
// state's length. So the master's reads are linearizable, and the final
// log (checked apart for loss, duplicates and order) is the one that
// every acknowledged write and every read agree on.
func logModel(final []frame.Entry) porcupine.Model {
	return (&porcupine.NondeterministicModel{
		Init: func() []any { return []any{0} },
		Step: func(state, input, output any) []any {
			n := state.(int)
			switch in := input.(type) {
			case appendIn:
				return appendStep(final, n, in, output.(appendOut))
			case readIn:
				got := output.([]frame.Entry)
				lo := min(int(in.from)-1, n)
				want := final[lo:min(n, lo+in.limit)]
				if slices.Equal(got, want) {
					return []any{n}
				}
				return nil
			}
			return nil
		},
		DescribeOperation: describeOperation,
		DescribeState:     func(state any) string { return fmt.Sprintf("%d entries", state.(int)) },
	}).ToModel()
}

// appendStep is an append's step from n entries of final: it must be
// the next entry, with the id it was given; an unknown one forks.
func appendStep(final []frame.Entry, n int, in appendIn, out appendOut) []any {
	next := n < len(final) && final[n].Message == in.msg
	switch {
	case out.unknown && next:
		return []any{n, n + 1}
	case out.unknown:
		return []any{n}
	case next && out.id == uint64(n+1):
		return []any{n + 1}
	}
	return nil
}

func describeOperation(input, output any) string {
	switch in := input.(type) {
	case appendIn:
		if out := output.(appendOut); !out.unknown {
			return fmt.Sprintf("append(%s) → %d", in.msg, out.id)
		}
		return fmt.Sprintf("append(%s) → ?", in.msg)
	case readIn:
		got := output.([]frame.Entry)
		if len(got) == 0 {
			return fmt.Sprintf("read(%d) → []", in.from)
		}
		return fmt.Sprintf("read(%d) → %d..%d", in.from, got[0].ID, got[len(got)-1].ID)
	}
	return "?"
}

// resolve settles what the final log tells of the appends whose outcome
// was unknown, before the search: one whose message is not in the log
// never happened (tally checks that nothing else says it did) and is
// dropped; one whose message is there happened at that id, some time
// after its call (it keeps neverReturned). Without this each unknown
// append forks the search at every point after its call, which a long
// run with master crashes cannot afford.
func resolve(ops []porcupine.Operation, final []frame.Entry) []porcupine.Operation {
	at := make(map[string]uint64, len(final))
	for _, e := range final {
		at[e.Message] = e.ID
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if in, ok := op.Input.(appendIn); ok && op.Output.(appendOut).unknown {
			id, happened := at[in.msg]
			if !happened {
				continue
			}
			op.Output = appendOut{id: id}
		}
		out = append(out, op)
	}
	return out
}

// tally is the set checker's count, as Jepsen prints it.
type tally struct {
	lost, duplicated, reordered, unexpected int
	examples                                [4]string // the first few messages counted, to look up
}

func (tl *tally) count(n *int, msg string) {
	*n++
	for i := range tl.examples {
		if tl.examples[i] == "" {
			tl.examples[i] = msg
			return
		}
	}
}

// check runs every check of a chaos history against the master's final
// log: linearizability of the master (porcupine; on failure its
// visualization is written to a file the failure names), the
// secondaries' reads (each a gap-free stretch of the final log), the
// w-replies (w−1 secondaries showed them), and the set checker's counts,
// which it prints even when all are zero.
func (h *history) check(t *testing.T, final []frame.Entry, outcomes []*outcome, limit time.Duration) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	tl := h.tally(final, outcomes)
	t.Logf("chaos history: %d operations on the master, %d reads of secondaries, %d w-replies checked; "+
		"lost %d, duplicated %d, reordered %d, unexpected %d",
		len(h.ops), len(h.reads), len(h.acked), tl.lost, tl.duplicated, tl.reordered, tl.unexpected)
	if tl != (tally{}) {
		t.Errorf("the set checker found lost %d, duplicated %d, reordered %d, unexpected %d; for example %q",
			tl.lost, tl.duplicated, tl.reordered, tl.unexpected, tl.examples)
	}

	switch res, drawn := checkPorcupine(t, logModel(final), resolve(h.ops, final), limit, "chaos"); res {
	case porcupine.Illegal:
		t.Errorf("the master's history is not linearizable; porcupine's visualization: %s", drawn)
	case porcupine.Unknown:
		t.Errorf("porcupine gave up after %s: the history is not checked", limit)
	}

	for _, r := range h.reads {
		for i, e := range r.entries {
			if e.ID != r.from+uint64(i) || int(e.ID) > len(final) || final[e.ID-1] != e {
				t.Errorf("%s read from %d shows %v at position %d: not the master's log, gap-free", r.name, r.from, e, i)
				break
			}
		}
	}
	for _, a := range h.acked {
		if a.shown < a.w-1 {
			t.Errorf("%s (w=%d, id %d) was shown by %d secondaries right after its reply", a.msg, a.w, a.id, a.shown)
		}
	}
}

// tally counts, against the final log: lost (a reply said stored, the
// log lacks it), duplicated (in the log twice, or given two ids),
// reordered (its append completed before another's began, yet it sits
// after it) and unexpected (in the log, though never written, or written
// and refused for sure).
func (h *history) tally(final []frame.Entry, outcomes []*outcome) tally {
	var tl tally
	at := map[string]int{}
	for i, e := range final {
		if _, dup := at[e.Message]; dup {
			tl.count(&tl.duplicated, e.Message)
			continue
		}
		at[e.Message] = i
	}
	written := map[string]*outcome{}
	for _, o := range outcomes {
		written[o.msg] = o
		_, in := at[o.msg]
		switch {
		case len(o.ids) > 1:
			tl.count(&tl.duplicated, o.msg)
		case o.accepted && !in:
			tl.count(&tl.lost, o.msg)
		case !o.accepted && !o.unknown && in:
			tl.count(&tl.unexpected, o.msg)
		}
	}
	for msg := range at {
		if written[msg] == nil {
			tl.count(&tl.unexpected, msg)
		}
	}
	// Real-time order: sort the known appends by completion; any append
	// that began after another completed must sit after it.
	var done []porcupine.Operation
	for _, op := range h.ops {
		if in, ok := op.Input.(appendIn); ok && !op.Output.(appendOut).unknown {
			if _, ok := at[in.msg]; ok {
				done = append(done, op)
			}
		}
	}
	slices.SortFunc(done, func(a, b porcupine.Operation) int { return cmp.Compare(a.Return, b.Return) })
	latest, latestRet := -1, int64(-1) // the highest position among appends completed so far
	j := 0
	byCall := slices.Clone(done)
	slices.SortFunc(byCall, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	for _, op := range byCall {
		for j < len(done) && done[j].Return < op.Call {
			latest = max(latest, at[done[j].Input.(appendIn).msg])
			latestRet = done[j].Return
			j++
		}
		if msg := op.Input.(appendIn).msg; latestRet >= 0 && at[msg] < latest {
			tl.count(&tl.reordered, msg)
		}
	}
	return tl
}

// TestHistoryChecker: the checks find what they are for in histories
// made by hand.
func TestHistoryChecker(t *testing.T) {
	a, b := frame.Entry{ID: 1, Message: "a"}, frame.Entry{ID: 2, Message: "b"}
	final := []frame.Entry{a, b}
	model := logModel(final)
	ok := []porcupine.Operation{
		{ClientId: 0, Input: appendIn{"a"}, Output: appendOut{id: 1}, Call: 0, Return: 10},
		{ClientId: 1, Input: readIn{from: 1, limit: 10}, Output: []frame.Entry{a}, Call: 12, Return: 15},
		{ClientId: 0, Input: appendIn{"b"}, Output: appendOut{unknown: true}, Call: 20, Return: neverReturned},
		{ClientId: 1, Input: readIn{from: 1, limit: 10}, Output: []frame.Entry{a, b}, Call: 40, Return: 45},
	}
	if !porcupine.CheckOperations(model, ok) {
		t.Fatal("a linearizable history (an unknown append that happened) was refused")
	}
	future := slices.Clone(ok)
	future[1] = porcupine.Operation{ClientId: 1, Input: readIn{from: 1, limit: 10}, Output: []frame.Entry{a, b}, Call: 12, Return: 15}
	if porcupine.CheckOperations(model, future) {
		t.Fatal("a read showing b before b's append began passed")
	}
	stale := slices.Clone(ok)
	stale[3] = porcupine.Operation{ClientId: 1, Input: readIn{from: 1, limit: 10}, Output: []frame.Entry{}, Call: 40, Return: 45}
	if porcupine.CheckOperations(model, stale) {
		t.Fatal("a read missing an acknowledged append passed")
	}
	// checkPorcupine decides with the plain check and draws a failure.
	if res, drawn := checkPorcupine(t, model, ok, time.Minute, "test"); res != porcupine.Ok || drawn != "" {
		t.Fatalf("checkPorcupine of a linearizable history: %v, %q", res, drawn)
	}
	res, drawn := checkPorcupine(t, model, stale, time.Minute, "test")
	if res != porcupine.Illegal {
		t.Fatalf("checkPorcupine of the stale read: %v", res)
	}
	if _, err := os.Stat(drawn); err != nil {
		t.Fatalf("the failure was not drawn: %q: %v", drawn, err)
	}
	os.Remove(drawn)

	h := &history{ops: []porcupine.Operation{
		{Input: appendIn{"b"}, Output: appendOut{id: 1}, Call: 0, Return: 10},
		{Input: appendIn{"a"}, Output: appendOut{id: 2}, Call: 20, Return: 30},
	}}
	outcomes := []*outcome{
		{msg: "a", ids: map[uint64]bool{2: true}, accepted: true},
		{msg: "b", ids: map[uint64]bool{1: true}, accepted: true},
		{msg: "c", ids: map[uint64]bool{3: true}, accepted: true}, // lost
		{msg: "d", ids: map[uint64]bool{}, refused: true},         // refused, yet in the log
	}
	got := h.tally([]frame.Entry{a, b, {ID: 3, Message: "a"}, {ID: 4, Message: "d"}, {ID: 5, Message: "z"}}, outcomes)
	// b completed before a began, yet a sits first: reordered.
	got.examples = [4]string{}
	if want := (tally{lost: 1, duplicated: 1, reordered: 1, unexpected: 2}); got != want {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
}

// TestResolveUnknownAppends: resolving keeps a history linearizable and
// keeps catching a read that shows an append before its call.
func TestResolveUnknownAppends(t *testing.T) {
	a, b := frame.Entry{ID: 1, Message: "a"}, frame.Entry{ID: 2, Message: "b"}
	final := []frame.Entry{a, b}
	ops := []porcupine.Operation{
		{Input: appendIn{"a"}, Output: appendOut{unknown: true}, Call: 0, Return: neverReturned},
		{Input: appendIn{"x"}, Output: appendOut{unknown: true}, Call: 0, Return: neverReturned},
		{ClientId: 1, Input: appendIn{"b"}, Output: appendOut{id: 2}, Call: 5, Return: 10},
		{ClientId: 2, Input: readIn{from: 1, limit: 5}, Output: []frame.Entry{a, b}, Call: 12, Return: 15},
	}
	if !porcupine.CheckOperations(logModel(final), resolve(ops, final)) {
		t.Fatal("a linearizable history with unknown appends was refused once resolved")
	}
	early := slices.Clone(ops)
	early[0].Call = 20 // a was shown at 15, before its append began
	if porcupine.CheckOperations(logModel(final), resolve(early, final)) {
		t.Fatal("a read showing an append before its call passed once resolved")
	}
}
