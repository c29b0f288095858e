package serve

import (
	"fmt"
	"time"

	"github.com/replog/replog/shared/store"
)

// Settings are what every replog node is configured with. Each binary's
// configuration embeds them, so envconfig reads them from the same
// variables on both; .env.example documents each.
type Settings struct {
	NodeName         string            `envconfig:"NODE_NAME"`
	ShutdownTimeout  time.Duration     `envconfig:"SHUTDOWN_TIMEOUT" default:"10s"`
	LogLevel         string            `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat        string            `envconfig:"LOG_FORMAT" default:"json"`
	ReplicationToken string            `envconfig:"REPLICATION_TOKEN"`
	DebugPprof       bool              `envconfig:"DEBUG_PPROF" default:"false"`
	DataDir          string            `envconfig:"DATA_DIR"`
	Fsync            store.FsyncPolicy `envconfig:"FSYNC" default:"always"`
	FsyncInterval    time.Duration     `envconfig:"FSYNC_INTERVAL" default:"100ms"`
}

// Validate checks the settings; its errors name the variable.
func (s Settings) Validate() error {
	switch {
	case s.ShutdownTimeout < 0:
		return fmt.Errorf("SHUTDOWN_TIMEOUT: must not be negative, got %s", s.ShutdownTimeout)
	case s.FsyncInterval <= 0:
		return fmt.Errorf("FSYNC_INTERVAL: must be positive, got %s", s.FsyncInterval)
	}
	return nil
}

// Node is what Main needs of the settings, with the node's HTTP address.
func (s Settings) Node(addr string) Node {
	return Node{Name: s.NodeName, Addr: addr, LogLevel: s.LogLevel, LogFormat: s.LogFormat}
}
