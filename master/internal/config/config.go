// Package config reads the master's settings from the environment. It is
// the only code of the master that reads the environment.
package config

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/replog/replog/master/internal/retention"
	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

// Config is every setting of the master; .env.example documents each.
type Config struct {
	serve.Settings
	store.DiskSettings

	ClusterSize     int `envconfig:"CLUSTER_SIZE" default:"0"`
	MaxMessageBytes int `envconfig:"MAX_MESSAGE_BYTES" default:"1048576"`
	// MaxBatchMessages and MaxBatchBytes bound a batch append.
	MaxBatchMessages int   `envconfig:"MAX_BATCH_MESSAGES" default:"1000"`
	MaxBatchBytes    int64 `envconfig:"MAX_BATCH_BYTES" default:"16777216"`

	Quorum       int           `envconfig:"QUORUM" default:"0"`
	WriteTimeout time.Duration `envconfig:"WRITE_TIMEOUT" default:"0"`
	// MaxWaitingWrites bounds the appends waiting for their write concern.
	MaxWaitingWrites int `envconfig:"MAX_WAITING_WRITES" default:"10000"`
	// MaxReplicationPeers bounds the /replicate sessions, observers included.
	MaxReplicationPeers int `envconfig:"MAX_REPLICATION_PEERS" default:"256"`
	// ReplicationHelloTimeout and ReplicationWriteTimeout drop a peer that
	// sends no hello, or takes no frame, in that time.
	ReplicationHelloTimeout time.Duration `envconfig:"REPLICATION_HELLO_TIMEOUT" default:"10s"`
	ReplicationWriteTimeout time.Duration `envconfig:"REPLICATION_WRITE_TIMEOUT" default:"10s"`
	HeartbeatInterval       time.Duration `envconfig:"HEARTBEAT_INTERVAL" default:"1s"`
	// ReplicationLinger is how long appends with writeConcern 1 may wait
	// to leave for the secondaries in one frame with those that follow.
	ReplicationLinger  time.Duration `envconfig:"REPLICATION_LINGER" default:"1ms"`
	IdempotencyWindow  time.Duration `envconfig:"IDEMPOTENCY_WINDOW" default:"10m"`
	IdempotencyMaxKeys int           `envconfig:"IDEMPOTENCY_MAX_KEYS" default:"100000"`
	ForgetAfter        time.Duration `envconfig:"FORGET_SECONDARY_AFTER" default:"1h"`
	// ReplicationClientCAFile, when set, makes every /replicate peer
	// present a client certificate signed by one of its CAs (mutual TLS;
	// needs TLS_CERT_FILE).
	ReplicationClientCAFile string `envconfig:"REPLICATION_CLIENT_CA_FILE"`
	// Retention bounds the log; 0 on an axis is no limit.
	RetentionMaxMessages int64         `envconfig:"RETENTION_MAX_MESSAGES" default:"0"`
	RetentionMaxBytes    int64         `envconfig:"RETENTION_MAX_BYTES" default:"0"`
	RetentionMaxAge      time.Duration `envconfig:"RETENTION_MAX_AGE" default:"0"`
	// FaultsAPI turns on fault control (PUT /secondaries/{name}/faults).
	FaultsAPI bool `envconfig:"FAULTS_API" default:"false"`
}

// Retention is the retention limits.
func (c Config) Retention() retention.Limits {
	return retention.Limits{MaxMessages: uint64(c.RetentionMaxMessages), MaxBytes: c.RetentionMaxBytes, MaxAge: c.RetentionMaxAge}
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("invalid configuration: %w", err)
	}
	if c.NodeName == "" {
		c.NodeName = "master"
	}
	c.DefaultAddr(":8080")
	if err := c.Settings.Validate(); err != nil {
		return c, err
	}
	if err := c.DiskSettings.Validate(); err != nil {
		return c, err
	}
	switch {
	case c.ClusterSize < 0:
		return c, fmt.Errorf("CLUSTER_SIZE: must be 0 (not stated) or the number of nodes, got %d", c.ClusterSize)
	case c.MaxMessageBytes < 1:
		return c, fmt.Errorf("MAX_MESSAGE_BYTES: must be at least 1, got %d", c.MaxMessageBytes)
	case c.MaxMessageBytes > 64<<20:
		return c, fmt.Errorf("MAX_MESSAGE_BYTES: at most %d (64 MiB), got %d", 64<<20, c.MaxMessageBytes)
	case c.MaxBatchMessages < 1 || c.MaxBatchMessages > 100000:
		return c, fmt.Errorf("MAX_BATCH_MESSAGES: must be from 1 to 100000, got %d", c.MaxBatchMessages)
	case c.MaxBatchBytes < 1024 || c.MaxBatchBytes > 1<<30:
		return c, fmt.Errorf("MAX_BATCH_BYTES: must be from 1024 to %d (1 GiB), got %d", 1<<30, c.MaxBatchBytes)
	case c.Quorum < 0:
		return c, fmt.Errorf("QUORUM: must be 0 (the default) or a number of nodes, got %d", c.Quorum)
	case c.ClusterSize > 0 && c.Quorum > c.ClusterSize:
		return c, fmt.Errorf("QUORUM: %d is more than CLUSTER_SIZE %d; no write could ever be accepted", c.Quorum, c.ClusterSize)
	case c.WriteTimeout < 0:
		return c, fmt.Errorf("WRITE_TIMEOUT: must not be negative, got %s", c.WriteTimeout)
	case c.RetentionMaxMessages < 0:
		return c, fmt.Errorf("RETENTION_MAX_MESSAGES: must be 0 (no limit) or positive, got %d", c.RetentionMaxMessages)
	case c.RetentionMaxBytes < 0:
		return c, fmt.Errorf("RETENTION_MAX_BYTES: must be 0 (no limit) or positive, got %d", c.RetentionMaxBytes)
	case c.RetentionMaxAge < 0:
		return c, fmt.Errorf("RETENTION_MAX_AGE: must be 0 (no limit) or positive, got %s", c.RetentionMaxAge)
	case c.MaxWaitingWrites < 1:
		return c, fmt.Errorf("MAX_WAITING_WRITES: must be at least 1, got %d", c.MaxWaitingWrites)
	case c.MaxReplicationPeers < 1:
		return c, fmt.Errorf("MAX_REPLICATION_PEERS: must be at least 1, got %d", c.MaxReplicationPeers)
	case c.ReplicationHelloTimeout <= 0:
		return c, fmt.Errorf("REPLICATION_HELLO_TIMEOUT: must be positive, got %s", c.ReplicationHelloTimeout)
	case c.ReplicationWriteTimeout <= 0:
		return c, fmt.Errorf("REPLICATION_WRITE_TIMEOUT: must be positive, got %s", c.ReplicationWriteTimeout)
	case c.ReplicationLinger < 0 || c.ReplicationLinger > time.Second:
		return c, fmt.Errorf("REPLICATION_LINGER: must be from 0 (send at once) to 1s, got %s", c.ReplicationLinger)
	case c.HeartbeatInterval < 10*time.Millisecond:
		return c, fmt.Errorf("HEARTBEAT_INTERVAL: must be at least 10ms, got %s", c.HeartbeatInterval)
	case c.IdempotencyWindow <= 0:
		return c, fmt.Errorf("IDEMPOTENCY_WINDOW: must be positive, got %s", c.IdempotencyWindow)
	case c.ForgetAfter <= 0:
		return c, fmt.Errorf("FORGET_SECONDARY_AFTER: must be positive, got %s", c.ForgetAfter)
	case c.IdempotencyMaxKeys < 1:
		return c, fmt.Errorf("IDEMPOTENCY_MAX_KEYS: must be at least 1, got %d", c.IdempotencyMaxKeys)
	}
	if c.ReplicationClientCAFile != "" {
		if !c.TLSFiles().Set() {
			return c, fmt.Errorf("REPLICATION_CLIENT_CA_FILE: client certificates need TLS: set TLS_CERT_FILE and TLS_KEY_FILE")
		}
		if _, err := certs.Pool(c.ReplicationClientCAFile, "REPLICATION_CLIENT_CA_FILE"); err != nil {
			return c, err
		}
	}
	if c.Quorum == 0 {
		c.Quorum = 1
		if c.ClusterSize > 0 {
			c.Quorum = c.ClusterSize/2 + 1
		}
	}
	return c, nil
}
