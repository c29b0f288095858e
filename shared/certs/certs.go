// Package certs loads the TLS certificates of a replog node from PEM
// files and keeps them current: a rotated pair is picked up when its
// files change or on SIGHUP, without a restart.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Files names a certificate and key pair and the variables that set them,
// so that errors can name the variable to fix.
type Files struct {
	Cert, Key       string // paths of the PEM files
	CertVar, KeyVar string // the environment variables that gave them
}

// Set reports whether either file is named.
func (f Files) Set() bool { return f.Cert != "" || f.Key != "" }

// Load reads and checks the pair at now: both files named, readable,
// matching each other, and the certificate valid at now. Its errors name
// the variable.
func (f Files) Load(now time.Time) (*tls.Certificate, error) {
	switch {
	case f.Cert == "":
		return nil, fmt.Errorf("%s: must be set with %s", f.CertVar, f.KeyVar)
	case f.Key == "":
		return nil, fmt.Errorf("%s: must be set with %s", f.KeyVar, f.CertVar)
	}
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.CertVar, err)
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.KeyVar, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if !hasPEM(certPEM, "CERTIFICATE") {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", f.CertVar, f.Cert)
		}
		return nil, fmt.Errorf("%s: %s does not hold the key of %s (%s): %w", f.KeyVar, f.Key, f.Cert, f.CertVar, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", f.CertVar, err)
		}
		pair.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%s: the certificate in %s expired at %s", f.CertVar, f.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%s: the certificate in %s is not valid before %s", f.CertVar, f.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// hasPEM reports whether b holds a PEM block of type typ.
func hasPEM(b []byte, typ string) bool {
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return false
		}
		if blk.Type == typ {
			return true
		}
	}
}

// Pool reads a PEM bundle of CA certificates; its errors name variable.
func Pool(file, variable string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", variable, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", variable, file)
	}
	return pool, nil
}

// Reloader serves a certificate pair and swaps in a new one when its
// files change or the process gets SIGHUP. A pair that fails to load
// leaves the one in use in place, with an error logged.
type Reloader struct {
	files Files
	log   *zap.Logger
	cur   atomic.Pointer[tls.Certificate]
	stamp string // the files' sizes and times when last loaded; Watch's own
}

// NewReloader loads files once; its error is Load's.
func NewReloader(files Files, log *zap.Logger) (*Reloader, error) {
	r := &Reloader{files: files, log: log}
	pair, err := files.Load(time.Now())
	if err != nil {
		return nil, err
	}
	r.cur.Store(pair)
	r.stamp = r.statStamp()
	return r, nil
}

// Certificate is the pair in use, for tls.Config.GetCertificate.
func (r *Reloader) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// ClientCertificate is the pair in use, for
// tls.Config.GetClientCertificate.
func (r *Reloader) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Leaf is the certificate in use.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().Leaf }

// Reload loads the files again and, if they are good, uses them.
func (r *Reloader) Reload(why string) error {
	pair, err := r.files.Load(time.Now())
	if err != nil {
		r.log.Error("certificate not reloaded; the one in use stays", zap.String("why", why),
			zap.String("cert", r.files.Cert), zap.Error(err))
		return err
	}
	r.cur.Store(pair)
	r.log.Info("certificate reloaded", zap.String("why", why), zap.String("cert", r.files.Cert),
		zap.String("subject", pair.Leaf.Subject.String()), zap.Time("notAfter", pair.Leaf.NotAfter))
	return nil
}

// Watch reloads on SIGHUP, and whenever a look every interval finds the
// files changed, until ctx is done.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.stamp = r.statStamp()
			_ = r.Reload("SIGHUP")
		case <-tick.C:
			if s := r.statStamp(); s != r.stamp {
				r.stamp = s
				_ = r.Reload("files changed")
			}
		}
	}
}

// statStamp identifies the files' contents cheaply: size and mtime of
// each (a rename over the file, as tools that rotate do, changes both).
func (r *Reloader) statStamp() string {
	var s string
	for _, f := range []string{r.files.Cert, r.files.Key} {
		fi, err := os.Stat(f)
		if err != nil {
			s += "missing;"
			continue
		}
		s += fmt.Sprintf("%d@%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

// Dialer is how a follower dials a wss:// node: verified against the
// CAs of caFile (variable caVar) or else the system's roots, never
// skipped, presenting client's certificate when set (mutual TLS), kept
// current by the returned Reloader (nil without one), which the caller
// watches.
func Dialer(caFile, caVar string, client Files, log *zap.Logger) (*tls.Config, *Reloader, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := Pool(caFile, caVar)
		if err != nil {
			return nil, nil, err
		}
		c.RootCAs = pool
	}
	if !client.Set() {
		return c, nil, nil
	}
	r, err := NewReloader(client, log)
	if err != nil {
		return nil, nil, err
	}
	c.GetClientCertificate = r.ClientCertificate
	return c, r, nil
}
