package faults

import (
	"testing"
	"time"

	"github.com/replog/replog/shared/frame"
)

func TestInjector(t *testing.T) {
	in := New(Delay{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, 0.5, 1)
	fails := 0
	for range 1000 {
		if d := in.Delay(); d < 10*time.Millisecond || d > 20*time.Millisecond {
			t.Fatalf("delay %s outside the range", d)
		}
		if in.Fail() {
			fails++
		}
	}
	if fails < 400 || fails > 600 {
		t.Fatalf("%d of 1000 failed at rate 0.5", fails)
	}
	off := New(Delay{}, 0, 1)
	if off.Delay() != 0 || off.Fail() {
		t.Fatal("an injector with nothing set injected something")
	}
}

// TestInjectorChange: fault control changes the faults all or nothing,
// and what is injected is counted.
func TestInjectorChange(t *testing.T) {
	in := New(Delay{}, 0, 1)
	delay, rate, cut := "5ms", 1.0, true
	got, err := in.Change(frame.Faults{ReplicationDelay: &delay, FailRate: &rate})
	if err != nil || *got.ReplicationDelay != "5ms" || *got.FailRate != 1 || *got.CutOff {
		t.Fatalf("Change = %+v, %v", got, err)
	}
	if in.Delay() != 5*time.Millisecond || !in.Fail() {
		t.Fatal("the changed faults are not injected")
	}
	if delays, fails := in.Injected(); delays != 1 || fails != 1 {
		t.Fatalf("injected %d delays, %d fails; want 1, 1", delays, fails)
	}
	bad := 2.0
	if _, err := in.Change(frame.Faults{CutOff: &cut, FailRate: &bad}); err == nil {
		t.Fatal("failRate 2 was taken")
	}
	if in.CutOff() || in.Settings().FailRate != 1 {
		t.Fatalf("a refused change changed something: %+v", in.Settings())
	}
	if _, err := in.Change(frame.Faults{CutOff: &cut}); err != nil || !in.CutOff() {
		t.Fatalf("cutOff not taken: %v", err)
	}
}
