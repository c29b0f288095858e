// Package config reads the secondary's settings from the environment. It
// is the only code of the secondary that reads the environment.
package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
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

	// MasterURL is one /replicate URL, or several separated by commas:
	// the master-capable nodes of one cluster (see MasterURLs).
	MasterURL string `envconfig:"MASTER_URL" default:"ws://localhost:8080/replicate" desc:"the master's replication endpoint, ws:// or wss://; several, comma-separated, are the master-capable nodes of one cluster, tried in turn"`
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
	// ClusterState=new marks the first start of a new cluster with
	// failover: an empty DATA_DIR is then a voter, not a wiped node.
	ClusterState string `envconfig:"CLUSTER_STATE" desc:"in a cluster with failover: new on the first start of a new cluster (an empty DATA_DIR is then a voter, not a wiped node that rejoins as a learner); leave unset afterwards"`
}

// ClusterNew reports whether the cluster is being created.
func (c Config) ClusterNew() bool { return c.ClusterState == "new" }

// DefaultAddr is the secondary's HTTP_ADDR when it is not set.
const DefaultAddr = ":8081"

// ClientFiles are the certificate files presented to the master.
func (c Config) ClientFiles() certs.Files {
	return certs.Files{Cert: c.ReplicationClientCertFile, Key: c.ReplicationClientKeyFile,
		CertVar: "REPLICATION_CLIENT_CERT_FILE", KeyVar: "REPLICATION_CLIENT_KEY_FILE"}
}

// MasterURLs are MASTER_URL's entries, in order.
func (c Config) MasterURLs() []string {
	urls := strings.Split(c.MasterURL, ",")
	for i, u := range urls {
		urls[i] = strings.TrimSpace(u)
	}
	return urls
}

// Load reads and validates the settings. Its errors name the variable.
func Load() (Config, error) {
	var c Config
	if err := serve.LoadEnv(&c); err != nil {
		return c, err
	}
	if err := c.validateMasterURLs(); err != nil {
		return c, err
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
	if c.ClusterState != "" && c.ClusterState != "new" && c.ClusterState != "existing" {
		return c, fmt.Errorf("CLUSTER_STATE: must be new (first start of a new cluster) or unset, got %q", c.ClusterState)
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
		host, err := os.Hostname()
		if err != nil || host == "" {
			return c, fmt.Errorf("NODE_NAME: not set and the hostname is unknown: %v", err)
		}
		c.NodeName = defaultName(host, dnsResolver{resolvConf: "/etc/resolv.conf"})
	}
	return c, nil
}

// validateMasterURLs checks each entry of MASTER_URL as a single one is
// checked; with several, an error says which entry.
func (c Config) validateMasterURLs() error {
	urls := c.MasterURLs()
	seen := make(map[string]int, len(urls))
	for i, raw := range urls {
		name := "MASTER_URL"
		if len(urls) > 1 {
			name = fmt.Sprintf("MASTER_URL: entry %d of %d", i+1, len(urls))
		}
		if j, ok := seen[raw]; ok {
			return fmt.Errorf("%s: %q repeats entry %d", name, raw, j)
		}
		seen[raw] = i + 1
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
			return fmt.Errorf("%s: must be a ws:// or wss:// URL such as ws://localhost:8080/replicate, got %q", name, raw)
		}
		if err := serve.ValidateURLPort(name, raw, u.Port()); err != nil {
			return err
		}
		if u.Scheme == "ws" && (c.MasterCAFile != "" || c.ClientFiles().Set()) {
			return fmt.Errorf("%s: %q is not wss://, so MASTER_CA_FILE and REPLICATION_CLIENT_CERT_FILE would be ignored", name, raw)
		}
	}
	return nil
}
