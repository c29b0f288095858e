package retention

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

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

// refusingLog is a log whose drops fail, counting them; moveFirst makes a
// failing drop move the first id anyway (a drop that failed half way).
type refusingLog struct {
	*store.Memory
	moveFirst bool
	attempts  atomic.Int32
}

func (l *refusingLog) DropBefore(id uint64) error {
	l.attempts.Add(1)
	if l.moveFirst {
		_ = l.Memory.DropBefore(id)
	}
	return errors.New("delete segment: input/output error")
}

// runSweeps runs retention over log until done, and returns every first
// id it told of.
func runSweeps(t *testing.T, log Log, done func() bool) []uint64 {
	t.Helper()
	var mu sync.Mutex
	var told []uint64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		Run(ctx, log, Limits{MaxMessages: 10}, time.Millisecond, func(first uint64) {
			mu.Lock()
			told = append(told, first)
			mu.Unlock()
		}, zaptest.NewLogger(t))
	})
	deadline := time.Now().Add(10 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling for the sweeps
	}
	cancel()
	wg.Wait() // a drop's telling is done before the loop looks at ctx again
	if !done() {
		t.Fatal("retention did not get there in 10 s")
	}
	mu.Lock()
	defer mu.Unlock()
	return told
}

func filled(t *testing.T, n int) *store.Memory {
	m := store.NewMemory("L")
	for range n {
		if _, err := m.Append(store.Record{Message: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestRunTellsOnlyWhatWasDropped: the hub hears of a first id only once
// the log holds nothing below it, so writes waiting on ids still stored
// are not answered "dropped" when a drop fails; a drop that fails after
// moving the first id is still told, so no write waits on a dropped id.
func TestRunTellsOnlyWhatWasDropped(t *testing.T) {
	t.Run("drop fails", func(t *testing.T) {
		log := &refusingLog{Memory: filled(t, 100)}
		tried := func() bool { return log.attempts.Load() >= 3 }
		if told := runSweeps(t, log, tried); len(told) > 0 {
			t.Fatalf("told of first ids %v, yet nothing was dropped", told)
		}
	})
	t.Run("drop fails after moving the first id", func(t *testing.T) {
		log := &refusingLog{Memory: filled(t, 100), moveFirst: true}
		tried := func() bool { return log.attempts.Load() >= 1 } // then the first id is where it asks
		if told := runSweeps(t, log, tried); len(told) != 1 || told[0] != 91 {
			t.Fatalf("told of first ids %v, want [91]", told)
		}
	})
	t.Run("drop succeeds", func(t *testing.T) {
		m := filled(t, 100)
		dropped := func() bool { return m.FirstID() == 91 }
		if told := runSweeps(t, m, dropped); len(told) != 1 || told[0] != 91 || m.FirstID() != 91 {
			t.Fatalf("told of first ids %v, the log starts at %d; want [91] and 91", told, m.FirstID())
		}
	})
}
