package faults

import (
	"testing"
	"time"
)

func TestParseDelay(t *testing.T) {
	good := map[string]Delay{
		"":           {},
		"0":          {},
		"1s":         {time.Second, time.Second},
		"500ms-2s":   {500 * time.Millisecond, 2 * time.Second},
		" 10ms-10ms": {10 * time.Millisecond, 10 * time.Millisecond},
	}
	for in, want := range good {
		got, err := ParseDelay(in)
		if err != nil || got != want {
			t.Errorf("ParseDelay(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseDelay(got.String()); back != got {
			t.Errorf("%v does not survive String: %q", got, got.String())
		}
	}
	for _, in := range []string{"soon", "2s-1s", "-1s", "1s-", "1s-2s-3s", "5"} {
		if _, err := ParseDelay(in); err == nil {
			t.Errorf("ParseDelay(%q) accepted", in)
		}
	}
}

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
