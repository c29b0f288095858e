// Package config reads the secondary's settings from the environment. It
// is the only code of the secondary that reads the environment.
package config

import (
	"fmt"
	"net/url"
	"os"

	"github.com/kelseyhightower/envconfig"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

// Config is every setting of the secondary; .env.example documents each.
type Config struct {
	serve.Settings
	store.DiskSettings

	MasterURL string `envconfig:"MASTER_URL" default:"ws://localhost:8080/replicate"`
	// ReplicationDelay and FailRate inject faults (see package faults).
	ReplicationDelay faults.Delay `envconfig:"REPLICATION_DELAY" default:"0"`
	FailRate         float64      `envconfig:"FAIL_RATE" default:"0"`
	// FaultsAPI lets the master (and PUT /faults) change the faults while
	// the secondary runs; never on in production.
	FaultsAPI bool `envconfig:"FAULTS_API" default:"false"`
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("invalid configuration: %w", err)
	}
	u, err := url.Parse(c.MasterURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return c, fmt.Errorf("MASTER_URL: must be a ws:// or wss:// URL such as ws://localhost:8080/replicate, got %q", c.MasterURL)
	}
	if c.FailRate < 0 || c.FailRate > 1 {
		return c, fmt.Errorf("FAIL_RATE: must be a probability from 0 to 1, got %v", c.FailRate)
	}
	c.DefaultAddr(":8081")
	if err := c.Settings.Validate(); err != nil {
		return c, err
	}
	if err := c.DiskSettings.Validate(); err != nil {
		return c, err
	}
	if c.NodeName == "" {
		// In a container the hostname is the container's, so scaled
		// secondaries get distinct names without configuration.
		if c.NodeName, err = os.Hostname(); err != nil || c.NodeName == "" {
			return c, fmt.Errorf("NODE_NAME: not set and the hostname is unknown: %v", err)
		}
	}
	return c, nil
}
