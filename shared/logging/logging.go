// Package logging builds the zap logger both replog binaries use, from
// their LOG_LEVEL and LOG_FORMAT settings.
package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger to stderr at level ("debug", "info", "warn",
// "error") in format ("json" for machines, "console" for people) that
// names node on every line.
func New(node, level, format string) (*zap.Logger, error) {
	return NewTo(os.Stderr, node, level, format)
}

// NewTo is New writing to w.
func NewTo(w io.Writer, node, level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	var enc func(zapcore.EncoderConfig) zapcore.Encoder
	switch format {
	case "json":
		cfg, enc = zap.NewProductionConfig(), zapcore.NewJSONEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg, enc = zap.NewDevelopmentConfig(), zapcore.NewConsoleEncoder
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("LOG_FORMAT: %q is not json or console", format)
	}
	// "10s", not 10 (seconds) or 10000000000 (nanoseconds): what an
	// operator writes in the settings, in every format.
	cfg.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // an operator must see every line about a peer, not a sample
	core := zapcore.NewCore(enc(cfg.EncoderConfig), zapcore.Lock(zapcore.AddSync(w)), cfg.Level)
	log, err := cfg.Build(zap.WrapCore(func(zapcore.Core) zapcore.Core { return core }))
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return log.With(zap.String("node", node)), nil
}
