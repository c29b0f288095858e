package serve

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/httpapi"
)

// Settings are what every replog node is configured with. Each binary's
// configuration embeds them, so envconfig reads them from the same
// variables on both; .env.example documents each.
type Settings struct {
	NodeName string `envconfig:"NODE_NAME" desc:"name on every log line; a secondary's identity toward the master"`
	// HTTPAddr has no default here: each binary sets its own port (see
	// DefaultAddr).
	HTTPAddr         string        `envconfig:"HTTP_ADDR" desc:"listen address of the HTTP API (and on the master /replicate), host:port"`
	ShutdownTimeout  time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s" desc:"on SIGTERM/SIGINT, how long in-flight requests may take to finish"`
	LogLevel         string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat        string        `envconfig:"LOG_FORMAT" default:"json" desc:"json for machines, console for people"`
	ReplicationToken string        `envconfig:"REPLICATION_TOKEN" desc:"bearer token secondaries present on /replicate; unset, replication is open to any peer"`
	// ReplicationTokenFile names a file holding the token instead, as
	// Docker Swarm and Kubernetes mount secrets; LoadEnv reads it.
	ReplicationTokenFile string `envconfig:"REPLICATION_TOKEN_FILE" desc:"file holding REPLICATION_TOKEN (a Swarm or Kubernetes secret), trailing newlines dropped; not with REPLICATION_TOKEN"`
	DebugPprof           bool   `envconfig:"DEBUG_PPROF" default:"false" desc:"true serves Go's profiler at /debug/pprof/ on the API port; keep it off in production"`
	// MaxStreams bounds the streams and waiting long-poll reads open at
	// once on the node.
	MaxStreams int `envconfig:"MAX_STREAMS" default:"1000" desc:"most streams and waiting long-poll reads open at once; more get 503"`
	// MaxLargeReads bounds the GET /messages replies above 1 MiB built at
	// once; each may hold up to 64 MiB of messages.
	MaxLargeReads int `envconfig:"MAX_LARGE_READS" default:"4" desc:"most GET /messages replies above 1 MiB built at once (each up to 64 MiB); more wait"`
	// StreamWriteTimeout ends a stream whose consumer takes no page in
	// that time.
	StreamWriteTimeout time.Duration `envconfig:"STREAM_WRITE_TIMEOUT" default:"1m" desc:"a stream whose consumer takes no page in this time is ended"`
	// ReadHeaderTimeout cuts off a client that takes longer to send its
	// request headers (slowloris); IdleTimeout closes keep-alive
	// connections left idle.
	ReadHeaderTimeout time.Duration `envconfig:"HTTP_READ_HEADER_TIMEOUT" default:"5s" desc:"a client that has not sent its request headers in this time is cut off (slowloris)"`
	IdleTimeout       time.Duration `envconfig:"HTTP_IDLE_TIMEOUT" default:"2m" desc:"an idle keep-alive connection is closed after this"`
	// TLSCertFile and TLSKeyFile, when set, serve the HTTP API (and on
	// the master /replicate) over TLS; see package certs for rotation.
	TLSCertFile string `envconfig:"TLS_CERT_FILE" desc:"PEM certificate: with TLS_KEY_FILE, serve the API (and /replicate) over TLS; reloaded on change or SIGHUP; unset, plain HTTP"`
	TLSKeyFile  string `envconfig:"TLS_KEY_FILE" desc:"PEM key of TLS_CERT_FILE"`
}

// TLSFiles are the node's certificate files.
func (s Settings) TLSFiles() certs.Files {
	return certs.Files{Cert: s.TLSCertFile, Key: s.TLSKeyFile, CertVar: "TLS_CERT_FILE", KeyVar: "TLS_KEY_FILE"}
}

// ReadLimits are the bounds on reads served at once.
func (s Settings) ReadLimits() httpapi.ReadLimits {
	return httpapi.ReadLimits{MaxStreams: s.MaxStreams, MaxLargeReads: s.MaxLargeReads, StreamWriteTimeout: s.StreamWriteTimeout}
}

// DefaultAddr fills in HTTP_ADDR when it was not set.
func (s *Settings) DefaultAddr(addr string) {
	if s.HTTPAddr == "" {
		s.HTTPAddr = addr
	}
}

// Validate checks the settings; its errors name the variable. HTTPAddr
// must be set (DefaultAddr) before.
func (s Settings) Validate() error {
	if err := ValidateAddr("HTTP_ADDR", s.HTTPAddr); err != nil {
		return err
	}
	switch {
	case strings.ContainsFunc(s.ReplicationToken, notInHeader):
		return fmt.Errorf("REPLICATION_TOKEN: must be printable ASCII without spaces (it travels in an HTTP header)")
	case s.ShutdownTimeout < 0:
		return fmt.Errorf("SHUTDOWN_TIMEOUT: must not be negative, got %s", s.ShutdownTimeout)
	case s.MaxStreams < 1:
		return fmt.Errorf("MAX_STREAMS: must be at least 1, got %d", s.MaxStreams)
	case s.StreamWriteTimeout <= 0:
		return fmt.Errorf("STREAM_WRITE_TIMEOUT: must be positive, got %s", s.StreamWriteTimeout)
	case s.MaxLargeReads < 1:
		return fmt.Errorf("MAX_LARGE_READS: must be at least 1, got %d", s.MaxLargeReads)
	case s.ReadHeaderTimeout <= 0:
		return fmt.Errorf("HTTP_READ_HEADER_TIMEOUT: must be positive, got %s", s.ReadHeaderTimeout)
	case s.IdleTimeout <= 0:
		return fmt.Errorf("HTTP_IDLE_TIMEOUT: must be positive, got %s", s.IdleTimeout)
	}
	if f := s.TLSFiles(); f.Set() {
		if _, err := f.Load(time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// readFiles fills the settings given as files: REPLICATION_TOKEN from
// REPLICATION_TOKEN_FILE. The token is read once, at start.
func (s *Settings) readFiles() error {
	if s.ReplicationTokenFile == "" {
		return nil
	}
	if s.ReplicationToken != "" {
		return fmt.Errorf("REPLICATION_TOKEN_FILE: set together with REPLICATION_TOKEN; give one of them")
	}
	b, err := os.ReadFile(s.ReplicationTokenFile)
	if err != nil {
		return fmt.Errorf("REPLICATION_TOKEN_FILE: %w", err)
	}
	s.ReplicationToken = strings.TrimRight(string(b), "\r\n")
	if s.ReplicationToken == "" {
		return fmt.Errorf("REPLICATION_TOKEN_FILE: %s is empty", s.ReplicationTokenFile)
	}
	return nil
}

// notInHeader reports whether r cannot be part of a bearer token.
func notInHeader(r rune) bool { return r <= ' ' || r >= 0x7f }

// Node is what Main needs of the settings.
func (s Settings) Node() Node {
	return Node{Name: s.NodeName, Addr: s.HTTPAddr, LogLevel: s.LogLevel, LogFormat: s.LogFormat, TLSCert: s.TLSCertFile,
		Token: s.ReplicationToken}
}
