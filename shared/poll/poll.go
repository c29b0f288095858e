// Package poll waits for a condition that nothing announces: it asks
// again and again, a little less often each time, until the condition
// holds or time is up, and then says what it last saw. Tests and the
// tools that drive real processes use it instead of sleeping.
package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The first pause between two calls, and the longest: quick answers are
// seen at once, slow ones are not asked about more than ten times a second.
const (
	firstWait = 5 * time.Millisecond
	maxWait   = 100 * time.Millisecond
)

// Until calls f until it returns nil or ctx ends. When ctx ends first it
// returns an error that wraps what f last returned (and ctx's error, when
// ctx was cancelled rather than timed out).
func Until(ctx context.Context, f func() error) error {
	start := time.Now()
	wait := firstWait
	for {
		err := f()
		if err == nil {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			took := time.Since(start).Round(time.Millisecond)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("still failing after %s: %w", took, err)
			}
			return fmt.Errorf("%w after %s; last: %w", ctx.Err(), took, err)
		case <-timer.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// For is Until with a timeout instead of a context.
func For(timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Until(ctx, f)
}

// TB is the part of testing.TB that Check uses, so that this package
// does not import testing.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Check is For in a test: it fails the test with f's last error if
// timeout passes first. Call it on the test's goroutine.
func Check(t TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := For(timeout, f); err != nil {
		t.Fatal(err)
	}
}
