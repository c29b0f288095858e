package retention

import (
	"strings"
	"testing"
	"time"

	"github.com/replog/replog/shared/store"
)

func TestFirstTakesTheTightestLimit(t *testing.T) {
	m := store.NewMemory("L")
	for range 100 {
		if _, err := m.Append(store.Record{Message: strings.Repeat("x", 10)}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	cases := []struct {
		l    Limits
		want uint64
	}{
		{Limits{}, 1},
		{Limits{MaxMessages: 1000}, 1},
		{Limits{MaxMessages: 30}, 71},
		{Limits{MaxBytes: 105}, 91},
		{Limits{MaxMessages: 30, MaxBytes: 105}, 91},
		{Limits{MaxMessages: 5, MaxBytes: 105}, 96},
		{Limits{MaxAge: time.Hour}, 1},
	}
	for _, c := range cases {
		if got := c.l.First(m, now); got != c.want {
			t.Errorf("%+v: first %d, want %d", c.l, got, c.want)
		}
	}
	if err := m.DropBefore(95); err != nil {
		t.Fatal(err)
	}
	if got := (Limits{MaxMessages: 30}).First(m, now); got != 95 {
		t.Errorf("never backwards: first %d, want 95", got)
	}
}
