package serve

import (
	"fmt"
	"time"
)

// Settings are what every replog node is configured with. Each binary's
// configuration embeds them, so envconfig reads them from the same
// variables on both; .env.example documents each.
type Settings struct {
	NodeName string `envconfig:"NODE_NAME"`
	// HTTPAddr has no default here: each binary sets its own port (see
	// DefaultAddr).
	HTTPAddr         string        `envconfig:"HTTP_ADDR"`
	ShutdownTimeout  time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s"`
	LogLevel         string        `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat        string        `envconfig:"LOG_FORMAT" default:"json"`
	ReplicationToken string        `envconfig:"REPLICATION_TOKEN"`
	DebugPprof       bool          `envconfig:"DEBUG_PPROF" default:"false"`
	// MaxStreams bounds the streams and waiting long-poll reads open at
	// once on the node.
	MaxStreams int `envconfig:"MAX_STREAMS" default:"1000"`
}

// DefaultAddr fills in HTTP_ADDR when it was not set.
func (s *Settings) DefaultAddr(addr string) {
	if s.HTTPAddr == "" {
		s.HTTPAddr = addr
	}
}

// Validate checks the settings; its errors name the variable.
func (s Settings) Validate() error {
	switch {
	case s.ShutdownTimeout < 0:
		return fmt.Errorf("SHUTDOWN_TIMEOUT: must not be negative, got %s", s.ShutdownTimeout)
	case s.MaxStreams < 1:
		return fmt.Errorf("MAX_STREAMS: must be at least 1, got %d", s.MaxStreams)
	}
	return nil
}

// Node is what Main needs of the settings.
func (s Settings) Node() Node {
	return Node{Name: s.NodeName, Addr: s.HTTPAddr, LogLevel: s.LogLevel, LogFormat: s.LogFormat}
}
