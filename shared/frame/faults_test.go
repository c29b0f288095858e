package frame

import (
	"testing"
	"time"
)

func TestParseDelay(t *testing.T) {
	good := map[string]Delay{
		"":           {},
		"0":          {},
		"1s":         {Min: time.Second, Max: time.Second},
		"500ms-2s":   {Min: 500 * time.Millisecond, Max: 2 * time.Second},
		" 10ms-10ms": {Min: 10 * time.Millisecond, Max: 10 * time.Millisecond},
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

func TestFaultsValidate(t *testing.T) {
	delay, badDelay, rate, badRate := "1s-2s", "2s-1s", 0.3, 1.5
	if err := (Faults{ReplicationDelay: &delay, FailRate: &rate}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Faults{{ReplicationDelay: &badDelay}, {FailRate: &badRate}} {
		if f.Validate() == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}
