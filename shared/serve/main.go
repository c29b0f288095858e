package serve

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/replog/replog/shared/logging"
)

// Config is what Main needs of a binary's configuration: every one
// embeds Settings, which provides it.
type Config interface{ Node() Node }

// Node is a configuration's name, HTTP_ADDR, LOG_LEVEL, LOG_FORMAT and
// TLS_CERT_FILE.
type Node struct{ Name, Addr, LogLevel, LogFormat, TLSCert string }

// Main runs a replog binary the same way for both: a bad configuration
// exits 2 with one line naming the variable; "health" as the first
// argument probes the running node's /health (for images without a
// shell); otherwise the node runs until SIGINT or SIGTERM and exits 0, or
// 1 when it fails.
//
// name prefixes start-up errors ("master", "secondary"); load reads the
// configuration from the environment; run runs the node until ctx is done.
func Main[C Config](name string, load func() (C, error), run func(ctx context.Context, cfg C, log *zap.Logger) error) {
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	node := cfg.Node()
	if len(os.Args) > 1 && os.Args[1] == "health" {
		if err := Probe(node); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		return
	}
	log, err := logging.New(node.Name, node.LogLevel, node.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, log)
	stop()
	if err != nil {
		log.Error(name+" stopped", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}
