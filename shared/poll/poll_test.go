package poll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := For(5*time.Second, func() error {
		if calls++; calls < 4 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("For returned %v after %d calls, want nil after 4", err, calls)
	}
}

func TestForSaysWhatItLastSaw(t *testing.T) {
	last := errors.New("not yet")
	start := time.Now()
	err := For(50*time.Millisecond, func() error { return last })
	if !errors.Is(err, last) {
		t.Fatalf("For returned %v, want it to wrap %v", err, last)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Fatalf("For gave up after %s with a 50ms timeout", took)
	}
}

func TestUntilStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Until(ctx, func() error {
		if calls++; calls == 3 {
			cancel()
		}
		return errors.New("never")
	})
	if !errors.Is(err, context.Canceled) || calls != 3 {
		t.Fatalf("Until returned %v after %d calls, want context.Canceled after 3", err, calls)
	}
}

// fakeTB records a Check's failure instead of ending the test.
type fakeTB struct{ failed []any }

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed = args }

func TestCheckFailsTheTestOnTimeout(t *testing.T) {
	var tb fakeTB
	Check(&tb, 20*time.Millisecond, func() error { return errors.New("still down") })
	if len(tb.failed) != 1 || !strings.Contains(fmt.Sprint(tb.failed[0]), "still down") {
		t.Fatalf("Check failed with %v", tb.failed)
	}
	tb = fakeTB{}
	Check(&tb, time.Second, func() error { return nil })
	if tb.failed != nil {
		t.Fatalf("Check failed a condition that held: %v", tb.failed)
	}
}

var _ TB = (testing.TB)(nil)
