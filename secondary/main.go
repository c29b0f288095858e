// Command secondary is a replog secondary: it dials the master, keeps a
// gap-free copy of its log, and serves reads of it.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/replog/replog/secondary/internal/api"
	"github.com/replog/replog/secondary/internal/config"
	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/follow"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

func main() { serve.Main(binary, config.Load, run) }

var binary = serve.Binary{Name: "secondary",
	About:    "dials the master, keeps a gap-free copy of its log, and serves reads of it.",
	Defaults: map[string]string{"HTTP_ADDR": config.DefaultAddr, "NODE_NAME": "the hostname, or in a container named by its id the container's name"}}

func run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	reg := metrics.NewRegistry()
	st, promises, err := openStore(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer st.Close()
	inject := faults.New(cfg.ReplicationDelay, cfg.FailRate, rand.Uint64())
	if s := inject.Settings(); s.FailRate > 0 || s.ReplicationDelay != "0" {
		log.Warn("fault injection is on", zap.String("replicationDelay", s.ReplicationDelay), zap.Float64("failRate", s.FailRate))
	}
	if cfg.FaultsAPI {
		log.Warn("fault control is on (FAULTS_API=true): the master and PUT /faults can slow or cut off this secondary")
	}
	if cfg.ReplicationToken == "" {
		log.Warn("REPLICATION_TOKEN is not set; dialing the master without credentials")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // stops the client and the certificate watches if the server fails to start
	dialTLS, err := masterTLS(ctx, &wg, cfg, log)
	if err != nil {
		return err
	}
	serverTLS, err := serve.StartTLS(ctx, &wg, cfg.Settings, log)
	if err != nil {
		return err
	}
	client := follow.New(follow.Config{URLs: cfg.MasterURLs(), Name: cfg.NodeName, Role: frame.RoleSecondary,
		Store: st, Log: log.Named("replication"), Ballot: promises,
		Options: follow.Options{Token: cfg.ReplicationToken, Faults: inject, FaultsAPI: cfg.FaultsAPI, TLS: dialTLS}})
	wg.Go(func() { client.Run(ctx) })
	api.RegisterMetrics(reg, st, client, inject)
	draining := make(chan struct{})
	node := api.Node{Name: cfg.NodeName, Faults: inject, FaultsAPI: cfg.FaultsAPI, Pprof: cfg.DebugPprof, Registry: reg,
		Reads: cfg.ReadLimits(), Draining: draining}
	srv := serve.NewServer(cfg.Settings, api.Routes(node, st, client), log)
	srv.TLSConfig = serverTLS
	serve.CloseOnShutdown(srv, draining)
	log.Info("secondary starting", zap.String("master", cfg.MasterURL), zap.String("httpAddr", cfg.HTTPAddr))
	return serve.Run(ctx, srv, cfg.ShutdownTimeout, log)
}

// openStore opens a durable log under DATA_DIR, or an in-memory one.
// Under DATA_DIR each running secondary takes the first node-N directory
// no other holds, so replicas sharing one volume (docker compose --scale)
// each keep their own log, and a restarted one takes a log back. Which
// one does not matter: every log there is a prefix of the master's, and
// the secondary resumes from wherever its log ends.
//
// With DATA_DIR the secondary also keeps its promises there (a Ballot),
// so that it can vote in a cluster with failover: promise.json is read,
// or written first, before the log opens (ballot.Load). Without DATA_DIR
// it has no Ballot and follows single masters only.
func openStore(ctx context.Context, cfg config.Config, log *zap.Logger, reg prometheus.Registerer) (store.Store, *ballot.Ballot, error) {
	if cfg.DataDir == "" {
		log.Info("the log is in memory (DATA_DIR is not set): a restart resyncs from the master")
		return store.NewMemory(""), nil, nil
	}
	onFsync := metrics.NewStore(reg).Observe
	for _, dir := range claimOrder(cfg.DataDir, cfg.NodeName) {
		if owner, err := ballot.Owner(dir); err != nil {
			return nil, nil, fmt.Errorf("load promise: %w", err)
		} else if owner != "" && owner != cfg.NodeName {
			continue // another replica's: its promises and acks are counted under its name
		}
		if err := checkNew(ctx, cfg, dir); err != nil {
			return nil, nil, err
		}
		p, learner, err := ballot.Load(dir, cfg.NodeName, cfg.ClusterNew())
		if err != nil {
			return nil, nil, fmt.Errorf("load promise: %w", err)
		}
		opts := cfg.DiskSettings.Options()
		opts.OnFsync = onFsync
		d, err := store.OpenDisk(dir, opts)
		if errors.Is(err, store.ErrLocked) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open log: %w", err)
		}
		store.LogOpened(log, d)
		return d, ballot.New(p, learner, cfg.NodeName, d.SetPromise), nil
	}
	return nil, nil, fmt.Errorf("open log: every node-N directory under %s is in use", cfg.DataDir)
}

// claimOrder is the node-N directories under dataDir in the order a
// secondary named name tries them: first the one whose promises are its
// own (so that replicas restarting together on a shared volume each take
// back their own log, never another's), then the others from node-1.
func claimOrder(dataDir, name string) []string {
	dirs := make([]string, 0, 1000)
	for n := 1; n <= 1000; n++ {
		dir := filepath.Join(dataDir, fmt.Sprintf("node-%d", n))
		if owner, _ := ballot.Owner(dir); owner != "" && owner == name {
			dirs = append([]string{dir}, dirs...)
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// checkNew refuses CLUSTER_STATE=new on an empty data directory when a
// master-capable node already holds the cluster's log (docs/FAILOVER.md,
// A9): the directory was lost, and the secondary would vote with promises
// it forgot.
func checkNew(ctx context.Context, cfg config.Config, dir string) error {
	if !cfg.ClusterNew() {
		return nil
	}
	empty, err := ballot.Empty(dir)
	if err != nil || !empty {
		return err
	}
	var bases []string
	for _, u := range cfg.MasterURLs() {
		u = strings.TrimSuffix(u, "/replicate")
		if rest, ok := strings.CutPrefix(u, "wss://"); ok {
			bases = append(bases, "https://"+rest)
		} else {
			bases = append(bases, "http://"+strings.TrimPrefix(u, "ws://"))
		}
	}
	if err := ballot.CheckNew(ctx, http.DefaultClient, bases, 3*time.Second); err != nil {
		return &serve.SettingError{Err: err}
	}
	return nil
}

// masterTLS is how a wss:// MASTER_URL is dialed: verified against
// MASTER_CA_FILE or the system's roots, never skipped, presenting the
// client certificate when one is set (kept current as the server's is).
// nil when no entry is wss://.
func masterTLS(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, log *zap.Logger) (*tls.Config, error) {
	wss := func(u string) bool { return strings.HasPrefix(u, "wss://") }
	if !slices.ContainsFunc(cfg.MasterURLs(), wss) {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.MasterCAFile != "" {
		pool, err := certs.Pool(cfg.MasterCAFile, "MASTER_CA_FILE")
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if f := cfg.ClientFiles(); f.Set() {
		r, err := certs.NewReloader(f, log.Named("tls"))
		if err != nil {
			return nil, err
		}
		wg.Go(func() { r.Watch(ctx, 10*time.Second) })
		c.GetClientCertificate = r.ClientCertificate
	}
	return c, nil
}
