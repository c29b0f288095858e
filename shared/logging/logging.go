// Package logging builds the zap logger both replog binaries use, from
// their LOG_LEVEL and LOG_FORMAT settings.
package logging

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replog/replog/shared/store"
)

// New returns a logger at level ("debug", "info", "warn", "error") in
// format ("json" for machines, "console" for people) that names node on
// every line.
func New(node, level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("LOG_FORMAT: %q is not json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // an operator must see every line about a peer, not a sample
	log, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return log.With(zap.String("node", node)), nil
}

// Recovered logs what opening a durable log found, with a warning for a
// torn tail that was cut off.
func Recovered(log *zap.Logger, dir, fsync string, r store.Recovery) {
	log.Info("log opened", zap.String("dir", dir), zap.String("fsync", fsync),
		zap.Uint64("lastId", r.Records), zap.Int("segments", r.Segments), zap.Duration("recoveryTook", r.Took))
	if r.TornBytes > 0 {
		log.Warn("cut a torn record off the end of the log (a write the crash interrupted; it was never acknowledged)",
			zap.Int64("bytes", r.TornBytes))
	}
}
