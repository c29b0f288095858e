// Package config reads the master's settings from the environment. It is
// the only code of the master that reads the environment.
package config

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/replog/replog/shared/store"
)

// Config is every setting of the master; .env.example documents each.
type Config struct {
	HTTPAddr        string        `envconfig:"HTTP_ADDR" default:":8080"`
	NodeName        string        `envconfig:"NODE_NAME" default:"master"`
	ClusterSize     int           `envconfig:"CLUSTER_SIZE" default:"0"`
	MaxMessageBytes int           `envconfig:"MAX_MESSAGE_BYTES" default:"1048576"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat       string        `envconfig:"LOG_FORMAT" default:"json"`

	Quorum             int           `envconfig:"QUORUM" default:"0"`
	WriteTimeout       time.Duration `envconfig:"WRITE_TIMEOUT" default:"0"`
	HeartbeatInterval  time.Duration `envconfig:"HEARTBEAT_INTERVAL" default:"1s"`
	IdempotencyWindow  time.Duration `envconfig:"IDEMPOTENCY_WINDOW" default:"10m"`
	IdempotencyMaxKeys int           `envconfig:"IDEMPOTENCY_MAX_KEYS" default:"100000"`
	ReplicationToken   string        `envconfig:"REPLICATION_TOKEN"`

	DebugPprof    bool              `envconfig:"DEBUG_PPROF" default:"false"`
	DataDir       string            `envconfig:"DATA_DIR"`
	Fsync         store.FsyncPolicy `envconfig:"FSYNC" default:"always"`
	FsyncInterval time.Duration     `envconfig:"FSYNC_INTERVAL" default:"100ms"`
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("invalid configuration: %w", err)
	}
	switch {
	case c.ClusterSize < 0:
		return c, fmt.Errorf("CLUSTER_SIZE: must be 0 (not stated) or the number of nodes, got %d", c.ClusterSize)
	case c.MaxMessageBytes < 1:
		return c, fmt.Errorf("MAX_MESSAGE_BYTES: must be at least 1, got %d", c.MaxMessageBytes)
	case c.MaxMessageBytes > 64<<20:
		return c, fmt.Errorf("MAX_MESSAGE_BYTES: at most %d (64 MiB), got %d", 64<<20, c.MaxMessageBytes)
	case c.ShutdownTimeout < 0:
		return c, fmt.Errorf("SHUTDOWN_TIMEOUT: must not be negative, got %s", c.ShutdownTimeout)
	case c.NodeName == "":
		return c, fmt.Errorf("NODE_NAME: must not be empty")
	case c.Quorum < 0:
		return c, fmt.Errorf("QUORUM: must be 0 (the default) or a number of nodes, got %d", c.Quorum)
	case c.ClusterSize > 0 && c.Quorum > c.ClusterSize:
		return c, fmt.Errorf("QUORUM: %d is more than CLUSTER_SIZE %d; no write could ever be accepted", c.Quorum, c.ClusterSize)
	case c.WriteTimeout < 0:
		return c, fmt.Errorf("WRITE_TIMEOUT: must not be negative, got %s", c.WriteTimeout)
	case c.HeartbeatInterval < 10*time.Millisecond:
		return c, fmt.Errorf("HEARTBEAT_INTERVAL: must be at least 10ms, got %s", c.HeartbeatInterval)
	case c.IdempotencyWindow <= 0:
		return c, fmt.Errorf("IDEMPOTENCY_WINDOW: must be positive, got %s", c.IdempotencyWindow)
	case c.FsyncInterval <= 0:
		return c, fmt.Errorf("FSYNC_INTERVAL: must be positive, got %s", c.FsyncInterval)
	case c.IdempotencyMaxKeys < 1:
		return c, fmt.Errorf("IDEMPOTENCY_MAX_KEYS: must be at least 1, got %d", c.IdempotencyMaxKeys)
	}
	if c.Quorum == 0 {
		c.Quorum = 1
		if c.ClusterSize > 0 {
			c.Quorum = c.ClusterSize/2 + 1
		}
	}
	return c, nil
}
