// Package retention bounds the master's log by count, bytes or age: once
// a second it works out the oldest id to keep and drops what lies below,
// then tells the replication hub (writes still waiting for dropped ids
// get their answer; secondaries follow the first id).
package retention

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Limits are the retention settings; 0 on an axis means no limit there.
type Limits struct {
	MaxMessages uint64
	MaxBytes    int64
	MaxAge      time.Duration
}

// On reports whether any limit is set.
func (l Limits) On() bool { return l.MaxMessages > 0 || l.MaxBytes > 0 || l.MaxAge > 0 }

// Log is what retention needs of the store.
type Log interface {
	FirstID() uint64
	LastID() uint64
	FitBytes(max int64) uint64
	AgedBefore(cutoff time.Time) uint64
	DropBefore(id uint64) error
}

// First is the oldest id the log should hold at now: the highest that
// any limit asks for, never below the current first id. Count and bytes
// are exact (whole messages); age is judged per chunk or segment by its
// newest message (see Log.AgedBefore).
func (l Limits) First(log Log, now time.Time) uint64 {
	first, last := log.FirstID(), log.LastID()
	if l.MaxMessages > 0 && last >= l.MaxMessages {
		first = max(first, last-l.MaxMessages+1)
	}
	if l.MaxBytes > 0 {
		first = max(first, log.FitBytes(l.MaxBytes))
	}
	if l.MaxAge > 0 {
		first = max(first, log.AgedBefore(now.Add(-l.MaxAge)))
	}
	return first
}

// SweepEvery is how often retention runs: the window is exact after each
// sweep, and may run over by what a second of appends adds.
const SweepEvery = time.Second

// Run sweeps every interval until ctx is done. dropped is called with the
// log's new first id once entries below it are gone, and only then: a
// write waiting for an id still stored must not be told it was dropped. A
// drop that fails after moving the first id is told too, so no write
// waits for an id that is gone.
func Run(ctx context.Context, log Log, l Limits, interval time.Duration, dropped func(first uint64), zl *zap.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		was := log.FirstID()
		first := l.First(log, time.Now())
		if first <= was {
			continue
		}
		err := log.DropBefore(first)
		if now := log.FirstID(); now > was {
			dropped(now)
		}
		if err != nil {
			if !failing {
				zl.Error("retention could not drop old entries; it keeps trying", zap.Uint64("firstId", first), zap.Error(err))
			}
			failing = true
			continue
		}
		if failing {
			zl.Info("retention works again", zap.Uint64("firstId", first))
		}
		failing = false
		zl.Debug("retention dropped old entries", zap.Uint64("firstId", first))
	}
}
