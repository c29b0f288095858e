// Package serve runs a replog node's HTTP server and shuts it down the
// same way on both binaries.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/replog/replog/shared/certs"
)

// MaxHeaderBytes bounds a request's headers; larger ones get 431.
const MaxHeaderBytes = 64 << 10

// NewServer returns a server on s.HTTPAddr with timeouts against slow
// clients (s.ReadHeaderTimeout, s.IdleTimeout). It sets no WriteTimeout: a
// write waiting for its write concern may legitimately take as long as
// the client is willing to wait.
func NewServer(s Settings, h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Addr:              s.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// CloseOnShutdown closes draining when srv starts to shut down, for the
// handlers that would otherwise hold a shutdown up (streams, long-polls):
// they end at once, cleanly, and the shutdown goes on.
func CloseOnShutdown(srv *http.Server, draining chan struct{}) {
	srv.RegisterOnShutdown(func() { close(draining) })
}

// Run serves srv until ctx is done, then stops accepting, gives in-flight
// requests up to grace to finish, and closes what is left. Hijacked
// connections (WebSockets) are not its to close: their owner does that.
func Run(ctx context.Context, srv *http.Server, grace time.Duration, log *zap.Logger) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", srv.TLSConfig != nil))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Duration("grace", grace))
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing them", zap.Error(err))
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	}
	return nil
}

// StartTLS loads the node's certificate (TLS_CERT_FILE, TLS_KEY_FILE)
// and keeps it current, reloading on SIGHUP or when the files change,
// until ctx is done; the watch runs on wg. It returns nil when TLS is off,
// and then takes SIGHUP itself: README tells operators to send it to
// reload certificates, and its default action would end the process
// (losing an in-memory log) where there is nothing to reload.
func StartTLS(ctx context.Context, wg *sync.WaitGroup, s Settings, log *zap.Logger) (*tls.Config, error) {
	f := s.TLSFiles()
	if !f.Set() {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP) // before returning: a SIGHUP right after start must not end the node
		wg.Go(func() { noReloadOnHangup(ctx, hup, log) })
		return nil, nil
	}
	r, err := certs.NewReloader(f, log.Named("tls"))
	if err != nil {
		return nil, err
	}
	wg.Go(func() { r.Watch(ctx, certWatchInterval) })
	log.Info("serving over TLS", zap.String("cert", f.Cert), zap.String("subject", r.Leaf().Subject.String()),
		zap.Time("notAfter", r.Leaf().NotAfter))
	return &tls.Config{GetCertificate: r.Certificate, MinVersion: tls.VersionTLS12}, nil
}

// noReloadOnHangup answers each SIGHUP on hup with a log line until ctx
// is done.
func noReloadOnHangup(ctx context.Context, hup chan os.Signal, log *zap.Logger) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: nothing to reload (TLS is off); still running")
		}
	}
}

// certWatchInterval is how often the certificate files are looked at.
const certWatchInterval = 10 * time.Second

// Probe checks a node's /health on the local host, for container health
// checks in images that have no shell or curl: `master health`. Over TLS
// it trusts exactly the certificate in TLS_CERT_FILE (see LocalClient).
func Probe(node Node) error {
	c, base, err := LocalClient(node, 2*time.Second)
	if err != nil {
		return err
	}
	resp, err := c.Get(base + "/health")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /health answered %s", resp.Status)
	}
	return nil
}
