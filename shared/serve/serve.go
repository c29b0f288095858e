// Package serve runs a replog node's HTTP server and shuts it down the
// same way on both binaries.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
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
	log.Info("listening", zap.String("addr", ln.Addr().String()))
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

// Probe checks a node's /health on the local host, for container health
// checks in images that have no shell or curl: `master health`.
func Probe(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/health")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /health answered %s", resp.Status)
	}
	return nil
}
