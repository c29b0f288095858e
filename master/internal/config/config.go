// Package config reads the master's settings from the environment. It is
// the only code of the master that reads the environment.
package config

import (
	"fmt"
	"time"

	"github.com/replog/replog/master/internal/retention"
	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

// Config is every setting of the master; .env.example documents each.
type Config struct {
	serve.Settings
	store.DiskSettings
	Failover

	ClusterSize     int `envconfig:"CLUSTER_SIZE" default:"0" desc:"nodes in the cluster, master included; 0 is not stated; when set, a larger writeConcern is refused with 400"`
	MaxMessageBytes int `envconfig:"MAX_MESSAGE_BYTES" default:"1048576" desc:"largest message accepted, in bytes (at most 64 MiB); larger ones get 413"`
	// MaxBatchMessages and MaxBatchBytes bound a batch append.
	MaxBatchMessages int   `envconfig:"MAX_BATCH_MESSAGES" default:"1000" desc:"most messages in one batch append (1 to 100000)"`
	MaxBatchBytes    int64 `envconfig:"MAX_BATCH_BYTES" default:"16777216" desc:"largest append body (a batch), in bytes; 413 beyond"`

	Quorum       int           `envconfig:"QUORUM" default:"0" desc:"healthy nodes, master included, needed to accept appends; 0 is CLUSTER_SIZE/2+1 when CLUSTER_SIZE is set, else 1"`
	WriteTimeout time.Duration `envconfig:"WRITE_TIMEOUT" default:"0" desc:"wait for a write concern when a request gives no timeoutMs; 0 is no limit"`
	// MaxWaitingWrites bounds the appends waiting for their write concern.
	MaxWaitingWrites int `envconfig:"MAX_WAITING_WRITES" default:"10000" desc:"most appends waiting for their write concern at once; beyond it an append that would wait gets 503"`
	// MaxReplicationPeers bounds the /replicate sessions, observers included.
	MaxReplicationPeers int `envconfig:"MAX_REPLICATION_PEERS" default:"256" desc:"most peers on /replicate at once, observers included; more get 503"`
	// ReplicationHelloTimeout and ReplicationWriteTimeout drop a peer that
	// sends no hello, or takes no frame, in that time.
	ReplicationHelloTimeout time.Duration `envconfig:"REPLICATION_HELLO_TIMEOUT" default:"10s" desc:"a peer that sends no hello in this time is dropped"`
	ReplicationWriteTimeout time.Duration `envconfig:"REPLICATION_WRITE_TIMEOUT" default:"10s" desc:"a peer that takes no frame in this time is dropped (it reconnects and catches up)"`
	HeartbeatInterval       time.Duration `envconfig:"HEARTBEAT_INTERVAL" default:"1s" desc:"heartbeat period (at least 10ms); a secondary is suspected after 2 silent intervals, unhealthy after 4"`
	// ReplicationLinger is how long appends with writeConcern 1 may wait
	// to leave for the secondaries in one frame with those that follow.
	ReplicationLinger  time.Duration `envconfig:"REPLICATION_LINGER" default:"1ms" desc:"longest wait of a writeConcern 1 append before it leaves for the secondaries with those that follow (0 to 1s; 0 sends at once)"`
	IdempotencyWindow  time.Duration `envconfig:"IDEMPOTENCY_WINDOW" default:"10m" desc:"how long an Idempotency-Key is remembered"`
	IdempotencyMaxKeys int           `envconfig:"IDEMPOTENCY_MAX_KEYS" default:"100000" desc:"how many Idempotency-Keys are remembered at most"`
	ForgetAfter        time.Duration `envconfig:"FORGET_SECONDARY_AFTER" default:"1h" desc:"how long a disconnected secondary stays listed in /health (as unhealthy)"`
	// ReplicationClientCAFile, when set, makes every /replicate peer
	// present a client certificate signed by one of its CAs (mutual TLS;
	// needs TLS_CERT_FILE).
	ReplicationClientCAFile string `envconfig:"REPLICATION_CLIENT_CA_FILE" desc:"PEM CAs: every /replicate peer must present a client certificate they signed (needs TLS)"`
	// Retention bounds the log; 0 on an axis is no limit.
	RetentionMaxMessages int64         `envconfig:"RETENTION_MAX_MESSAGES" default:"0" desc:"keep at most this many of the newest messages; 0 is no limit"`
	RetentionMaxBytes    int64         `envconfig:"RETENTION_MAX_BYTES" default:"0" desc:"keep at most this many bytes of message text, dropping the oldest; 0 is no limit"`
	RetentionMaxAge      time.Duration `envconfig:"RETENTION_MAX_AGE" default:"0" desc:"drop chunks/segments whose newest message is older (e.g. 168h); 0 is no limit"`
	// FaultsAPI turns on fault control (PUT /secondaries/{name}/faults).
	FaultsAPI bool `envconfig:"FAULTS_API" default:"false" desc:"true turns on fault control (PUT /secondaries/{name}/faults); never in production"`
}

// The master's defaults for the settings both binaries share.
const (
	DefaultAddr = ":8080"
	DefaultName = "master"
)

// Retention is the retention limits.
func (c Config) Retention() retention.Limits {
	return retention.Limits{MaxMessages: uint64(c.RetentionMaxMessages), MaxBytes: c.RetentionMaxBytes, MaxAge: c.RetentionMaxAge}
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := serve.LoadEnv(&c); err != nil {
		return c, err
	}
	nodeNameSet := c.NodeName != ""
	if !nodeNameSet {
		c.NodeName = DefaultName
	}
	c.DefaultAddr(DefaultAddr)
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
	if err := c.loadFailover(nodeNameSet); err != nil {
		return c, err
	}
	if c.Quorum == 0 {
		c.Quorum = 1
		if c.ClusterSize > 0 {
			c.Quorum = c.ClusterSize/2 + 1
		}
	}
	return c, nil
}
