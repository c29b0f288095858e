// Package config reads the secondary's settings from the environment. It
// is the only code of the secondary that reads the environment.
package config

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

// Config is every setting of the secondary; .env.example documents each.
type Config struct {
	serve.Settings
	store.DiskSettings

	MasterURL string `envconfig:"MASTER_URL" default:"ws://localhost:8080/replicate" desc:"the master's replication endpoint, ws:// or wss://"`
	// ReplicationDelay and FailRate inject faults (see package faults).
	ReplicationDelay faults.Delay `envconfig:"REPLICATION_DELAY" default:"0" desc:"injected delay before applying appends: 1s, or a range such as 500ms-2s"`
	FailRate         float64      `envconfig:"FAIL_RATE" default:"0" desc:"injected probability (0 to 1) of refusing an append frame"`
	// MasterCAFile verifies a wss:// MASTER_URL against these CAs instead
	// of the system's.
	MasterCAFile string `envconfig:"MASTER_CA_FILE" desc:"PEM CAs that a wss:// master's certificate is verified against; unset, the system's"`
	// ReplicationClientCertFile and ReplicationClientKeyFile are presented
	// to the master on a wss:// MASTER_URL (mutual TLS).
	ReplicationClientCertFile string `envconfig:"REPLICATION_CLIENT_CERT_FILE" desc:"PEM client certificate presented to a wss:// master (mutual TLS)"`
	ReplicationClientKeyFile  string `envconfig:"REPLICATION_CLIENT_KEY_FILE" desc:"PEM key of REPLICATION_CLIENT_CERT_FILE"`
	// FaultsAPI lets the master (and PUT /faults) change the faults while
	// the secondary runs; never on in production.
	FaultsAPI bool `envconfig:"FAULTS_API" default:"false" desc:"true lets the master (and PUT /faults) change the injected faults at run time; never in production"`
}

// DefaultAddr is the secondary's HTTP_ADDR when it is not set.
const DefaultAddr = ":8081"

// ClientFiles are the certificate files presented to the master.
func (c Config) ClientFiles() certs.Files {
	return certs.Files{Cert: c.ReplicationClientCertFile, Key: c.ReplicationClientKeyFile,
		CertVar: "REPLICATION_CLIENT_CERT_FILE", KeyVar: "REPLICATION_CLIENT_KEY_FILE"}
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := serve.LoadEnv(&c); err != nil {
		return c, err
	}
	u, err := url.Parse(c.MasterURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return c, fmt.Errorf("MASTER_URL: must be a ws:// or wss:// URL such as ws://localhost:8080/replicate, got %q", c.MasterURL)
	}
	if err := serve.ValidateURLPort("MASTER_URL", c.MasterURL, u.Port()); err != nil {
		return c, err
	}
	if u.Scheme == "ws" && (c.MasterCAFile != "" || c.ClientFiles().Set()) {
		return c, fmt.Errorf("MASTER_URL: %q is not wss://, so MASTER_CA_FILE and REPLICATION_CLIENT_CERT_FILE would be ignored", c.MasterURL)
	}
	if c.MasterCAFile != "" {
		if _, err := certs.Pool(c.MasterCAFile, "MASTER_CA_FILE"); err != nil {
			return c, err
		}
	}
	if f := c.ClientFiles(); f.Set() {
		if _, err := f.Load(time.Now()); err != nil {
			return c, err
		}
	}
	if !(c.FailRate >= 0 && c.FailRate <= 1) { // NaN too
		return c, fmt.Errorf("FAIL_RATE: must be a probability from 0 to 1, got %v", c.FailRate)
	}
	c.DefaultAddr(DefaultAddr)
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
