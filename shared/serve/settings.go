package serve

import (
	"fmt"
	"time"

	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/httpapi"
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
	// MaxLargeReads bounds the GET /messages replies above 1 MiB built at
	// once; each may hold up to 64 MiB of messages.
	MaxLargeReads int `envconfig:"MAX_LARGE_READS" default:"4"`
	// StreamWriteTimeout ends a stream whose consumer takes no page in
	// that time.
	StreamWriteTimeout time.Duration `envconfig:"STREAM_WRITE_TIMEOUT" default:"1m"`
	// ReadHeaderTimeout cuts off a client that takes longer to send its
	// request headers (slowloris); IdleTimeout closes keep-alive
	// connections left idle.
	ReadHeaderTimeout time.Duration `envconfig:"HTTP_READ_HEADER_TIMEOUT" default:"5s"`
	IdleTimeout       time.Duration `envconfig:"HTTP_IDLE_TIMEOUT" default:"2m"`
	// TLSCertFile and TLSKeyFile, when set, serve the HTTP API (and on
	// the master /replicate) over TLS; see package certs for rotation.
	TLSCertFile string `envconfig:"TLS_CERT_FILE"`
	TLSKeyFile  string `envconfig:"TLS_KEY_FILE"`
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

// Validate checks the settings; its errors name the variable.
func (s Settings) Validate() error {
	switch {
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

// Node is what Main needs of the settings.
func (s Settings) Node() Node {
	return Node{Name: s.NodeName, Addr: s.HTTPAddr, LogLevel: s.LogLevel, LogFormat: s.LogFormat, TLSCert: s.TLSCertFile}
}
