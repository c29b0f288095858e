package store

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// DiskSettings are the durable-log settings both binaries read from the
// environment (each configuration embeds them; .env.example documents
// each). An empty DataDir keeps the log in memory.
type DiskSettings struct {
	DataDir       string        `envconfig:"DATA_DIR" desc:"where the durable log lives; unset, the log is in memory and a restart loses it"`
	Fsync         FsyncPolicy   `envconfig:"FSYNC" default:"always" desc:"when an append counts as held: always (fsync first), interval (every FSYNC_INTERVAL) or never (left to the OS)"`
	FsyncInterval time.Duration `envconfig:"FSYNC_INTERVAL" default:"100ms" desc:"with FSYNC=interval, how often to fsync"`
	// SegmentBytes is the size past which a segment file is closed and a
	// new one begun: the unit in which retention gives disk space back.
	SegmentBytes int64 `envconfig:"SEGMENT_BYTES" default:"67108864" desc:"size past which a segment file is closed (at least 65536): the unit disk space comes back in"`
}

// Validate checks the settings; its errors name the variable.
func (s DiskSettings) Validate() error {
	if s.DataDir != "" {
		// Caught here, where the variable can be named, rather than as a
		// failure to open the log.
		if fi, err := os.Stat(s.DataDir); err == nil && !fi.IsDir() {
			return fmt.Errorf("DATA_DIR: %s is a file, not a directory", s.DataDir)
		}
	}
	if s.FsyncInterval <= 0 {
		return fmt.Errorf("FSYNC_INTERVAL: must be positive, got %s", s.FsyncInterval)
	}
	if s.SegmentBytes < 64<<10 {
		return fmt.Errorf("SEGMENT_BYTES: must be at least 65536 (64 KiB), got %d", s.SegmentBytes)
	}
	return nil
}

// Options are the DiskOptions the settings give; the caller adds the rest.
func (s DiskSettings) Options() DiskOptions {
	return DiskOptions{Fsync: s.Fsync, FsyncInterval: s.FsyncInterval, SegmentBytes: s.SegmentBytes}
}

// LogOpened logs what opening d found, with a warning for a torn tail
// that was cut off: one line an operator reads at every start.
func LogOpened(log *zap.Logger, d *Disk) {
	r := d.Recovery()
	log.Info("log opened", zap.String("dir", d.Dir()), zap.String("fsync", string(d.opts.Fsync)),
		zap.Uint64("firstId", d.FirstID()), zap.Uint64("lastId", d.LastID()), zap.Int("segments", r.Segments),
		zap.Duration("recoveryTook", r.Took))
	if r.TornBytes > 0 {
		log.Warn("cut a torn record off the end of the log (a write the crash interrupted; it was never acknowledged)",
			zap.Int64("bytes", r.TornBytes))
	}
}
