package replication

import (
	"context"
	"errors"
	"testing"

	"github.com/replog/replog/shared/frame"
)

// TestFaultControl: each answer reaches the change it answers; changes
// asked before it were never answered and are forgotten; an answer with
// no id (a change on the secondary's own API) answers nobody; a peer that
// never answers is remembered for maxAsked changes at most.
func TestFaultControl(t *testing.T) {
	c := newFaultControl(frame.Hello("s1", frame.RoleSecondary, "", 0))
	ask := func() chan frame.Frame {
		req := faultsRequest{answer: make(chan frame.Frame, 1)}
		if f := c.ask(req); f.Type != frame.TypeFaults || f.ID != c.last {
			t.Fatalf("ask sent %+v, want a faults frame with id %d", f, c.last)
		}
		return req.answer
	}
	got := func(ch chan frame.Frame) (uint64, bool) {
		select {
		case f := <-ch:
			return f.ID, true
		default:
			return 0, false
		}
	}
	a1, a2, a3 := ask(), ask(), ask()
	c.answer(frame.Frame{Type: frame.TypeFaults}) // the secondary's own change
	c.answer(frame.Frame{Type: frame.TypeFaults, ID: 2})
	if _, ok := got(a1); ok {
		t.Fatal("change 1, never answered, got an answer")
	}
	if id, ok := got(a2); !ok || id != 2 {
		t.Fatalf("change 2 got %d, %v; want its answer", id, ok)
	}
	if _, ok := got(a3); ok || len(c.asked) != 1 || c.asked[0].id != 3 {
		t.Fatalf("change 3 answered early, or not remembered: %+v", c.asked)
	}
	for range maxAsked + 5 {
		ask()
	}
	if len(c.asked) != maxAsked || c.asked[0].id != c.last-maxAsked+1 {
		t.Fatalf("after %d more changes %d are remembered, from id %d", maxAsked+5, len(c.asked), c.asked[0].id)
	}
	if observer := newFaultControl(frame.Hello("w", frame.RoleObserver, "", 0)); observer.enabled {
		t.Fatal("an observer takes fault changes")
	}
}

// TestHubSetFaultsAsksThePeer: SetFaults sends the change to the
// secondary's session and returns what the secondary answers.
func TestHubSetFaultsAsksThePeer(t *testing.T) {
	f := newFixture(t, Options{})
	hello := frame.Hello("s1", frame.RoleSecondary, "", 0)
	hello.FaultsAPI = true
	p := f.dial(hello)
	p.Expect(frame.TypeWelcome)
	cut := true
	type result struct {
		faults frame.Faults
		err    error
	}
	done := make(chan result, 1)
	go func() {
		fs, err := f.hub.SetFaults(context.Background(), "s1", frame.Faults{CutOff: &cut})
		done <- result{fs, err}
	}()
	ask := p.Expect(frame.TypeFaults)
	if ask.ID == 0 || ask.Faults == nil || ask.Faults.CutOff == nil || !*ask.Faults.CutOff {
		t.Fatalf("the peer was asked %+v", ask)
	}
	p.Send(frame.Frame{Type: frame.TypeFaults, ID: ask.ID, Faults: &frame.Faults{CutOff: &cut}})
	r := <-done
	if r.err != nil || r.faults.CutOff == nil || !*r.faults.CutOff {
		t.Fatalf("SetFaults = %+v, %v", r.faults, r.err)
	}
	if _, err := f.hub.SetFaults(context.Background(), "nobody", frame.Faults{}); !errors.Is(err, ErrUnknownSecondary) {
		t.Fatalf("SetFaults of an unknown secondary: %v", err)
	}
}
