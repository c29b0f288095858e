// Command master is replog's master: it takes appends over HTTP, gives
// them ids, and streams the log to the secondaries that dial /replicate.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/api"
	"github.com/replog/replog/master/internal/config"
	"github.com/replog/replog/master/internal/failover"
	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/master/internal/retention"
	"github.com/replog/replog/shared/ballot"
	"github.com/replog/replog/shared/certs"
	"github.com/replog/replog/shared/election"
	"github.com/replog/replog/shared/follow"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/serve"
	"github.com/replog/replog/shared/store"
)

func main() { serve.Main(binary, config.Load, run) }

var binary = serve.Binary{Name: "master",
	About:    "takes appends over HTTP, gives them ids, and streams the log to the secondaries that dial /replicate.",
	Defaults: map[string]string{"HTTP_ADDR": config.DefaultAddr, "NODE_NAME": config.DefaultName},
	Commands: []serve.Command{stepDownCommand, checkCommand}}

func run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	reg := metrics.NewRegistry()
	var wgPeers sync.WaitGroup // the peer client certificate's watch, when there is one
	defer wgPeers.Wait()
	ctx, cancelPeers := context.WithCancel(ctx)
	defer cancelPeers()
	var promise election.Promise
	var learner bool
	var peerTLS *tls.Config // how this node dials https peers it follows
	if cfg.Failover.On() {
		var err error
		if peerTLS, err = dialTLS(ctx, &wgPeers, cfg, log); err != nil {
			return err
		}
		// Before the log opens: promise.json is a node's first write (A4).
		if err := checkNew(ctx, cfg, peerTLS); err != nil {
			return err
		}
		if promise, learner, err = ballot.Load(cfg.DataDir, cfg.NodeName, cfg.ClusterNew()); errors.Is(err, ballot.ErrOtherNode) {
			return &serve.SettingError{Err: fmt.Errorf("NODE_NAME: %w", err)}
		} else if err != nil {
			return fmt.Errorf("DATA_DIR: %w", err)
		}
		promise = failover.ForgetPromise(promise) // promise itself, but in a test's deliberately broken build
	}
	st, err := openStore(cfg, log, reg)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.ReplicationToken == "" {
		log.Warn("REPLICATION_TOKEN is not set: any peer that reaches /replicate can join as a secondary")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the certificate watch
	tlsConfig, err := serve.StartTLS(ctx, &wg, cfg.Settings, log)
	if err != nil {
		return err
	}
	if cfg.ReplicationClientCAFile != "" {
		pool, err := certs.Pool(cfg.ReplicationClientCAFile, "REPLICATION_CLIENT_CA_FILE")
		if err != nil {
			return err
		}
		// Only /replicate needs a client certificate: API clients
		// present none, and the hub refuses peers without a verified one.
		tlsConfig.ClientCAs, tlsConfig.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	var node *failover.Node  // with PEERS; the hub hands it the peers that dial while it does not lead
	var commit *store.Commit // the commit id, known only with CLUSTER_SIZE (required with PEERS)
	if cfg.ClusterSize > 0 {
		commit = new(store.Commit)
	}
	hub := replication.NewHub(st, replication.Options{
		Commit:            commit,
		ClusterSize:       cfg.ClusterSize,
		Failover:          cfg.Failover.On(),
		Standby:           func(ctx context.Context, conn *websocket.Conn, hello frame.Frame) { node.ServeLink(ctx, conn, hello) },
		MaxMessageBytes:   cfg.MaxMessageBytes,
		HeartbeatInterval: cfg.HeartbeatInterval,
		Token:             cfg.ReplicationToken,
		ForgetAfter:       cfg.ForgetAfter,
		MaxPeers:          cfg.MaxReplicationPeers,
		RequireClientCert: cfg.ReplicationClientCAFile != "",
		HelloTimeout:      cfg.ReplicationHelloTimeout,
		WriteTimeout:      cfg.ReplicationWriteTimeout,
		Linger:            cfg.ReplicationLinger,
		NoLinger:          cfg.ReplicationLinger == 0, // REPLICATION_LINGER=0: send at once; Options take 0 as the default
	}, log.Named("replication"))
	defer hub.Close()        // after the HTTP server stopped: waiting writes could still complete until then
	hub.Retain(st.FirstID()) // what an earlier run dropped, retention on or not now
	if lim := cfg.Retention(); lim.On() {
		wg.Go(func() { retention.Run(ctx, st, lim, retention.SweepEvery, hub.Retain, log.Named("retention")) })
		log.Info("retention on", zap.String("maxMessages", said(lim.MaxMessages, "no limit")), zap.String("maxBytes", said(lim.MaxBytes, "no limit")),
			zap.String("maxAge", said(lim.MaxAge, "no limit")), zap.Duration("sweepEvery", retention.SweepEvery))
	}
	var fo api.Failover // a nil *failover.Node in the interface would not be nil
	if cfg.Failover.On() {
		b := ballot.New(promise, learner, cfg.NodeName, st.SetPromise)
		b.See(1) // epoch 1 is a single master's: the first election of a cluster with failover is for epoch 2 (see ballot.CheckNew)
		node = failover.New(failoverConfig(cfg, peerTLS), st, b, hub, log.Named("failover"))
		fo = node
		wg.Go(func() { node.Run(ctx) })
		log.Info("failover on", zap.String("advertiseUrl", cfg.AdvertiseURL), zap.Int("peers", len(cfg.Peers)),
			zap.String("failover", cfg.Mode), zap.Duration("failoverTimeout", cfg.Timeout), zap.Bool("learner", learner))
	}
	// The dashboard reads the other master-capable nodes' state through
	// this one, and promotes them, dialing them as a standby does.
	peerClient := &http.Client{Timeout: failover.PromoteWait + 2*time.Second,
		Transport: &http.Transport{TLSClientConfig: peerTLS}}
	draining := make(chan struct{})
	server := api.New(st, hub, api.Options{
		Limits: api.Limits{MaxMessageBytes: cfg.MaxMessageBytes, ClusterSize: cfg.ClusterSize,
			MaxBatchMessages: cfg.MaxBatchMessages},
		MaxBatchBytes:      cfg.MaxBatchBytes,
		Quorum:             cfg.Quorum,
		WriteTimeout:       cfg.WriteTimeout,
		MaxWaitingWrites:   cfg.MaxWaitingWrites,
		IdempotencyWindow:  cfg.IdempotencyWindow,
		IdempotencyMaxKeys: cfg.IdempotencyMaxKeys,
		Pprof:              cfg.DebugPprof,
		FaultsAPI:          cfg.FaultsAPI,
		Registry:           reg,
		Reads:              cfg.ReadLimits(),
		Draining:           draining,
		Failover:           fo,
		NodeName:           cfg.NodeName,
		PeerClient:         peerClient,
		Authorized:         hub.Authorized,
	}, log)
	wg.Go(func() { server.SampleLag(ctx) }) // the dashboard's last minute of lag
	if cfg.FaultsAPI {
		log.Warn("fault control is on (FAULTS_API=true): anyone who reaches the API can slow or cut off secondaries")
	}
	srv := serve.NewServer(cfg.Settings, server.Routes(), log)
	srv.TLSConfig = tlsConfig
	serve.CloseOnShutdown(srv, draining)
	log.Info("master starting", startFields(cfg, st.LogID())...)
	return serve.Run(ctx, srv, cfg.ShutdownTimeout, log)
}

// checkNew refuses CLUSTER_STATE=new on an empty DATA_DIR when a peer
// already holds the cluster's log (docs/FAILOVER.md, A9).
func checkNew(ctx context.Context, cfg config.Config, peerTLS *tls.Config) error {
	if !cfg.ClusterNew() {
		return nil
	}
	empty, err := ballot.Empty(cfg.DataDir)
	if err != nil || !empty {
		return err
	}
	bases := make([]string, len(cfg.Peers))
	for i, p := range cfg.Peers {
		bases[i] = p.URL
	}
	client := http.DefaultClient
	if peerTLS != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: peerTLS}}
	}
	if err := ballot.CheckNew(ctx, client, bases, 3*time.Second); err != nil {
		return &serve.SettingError{Err: err}
	}
	return nil
}

// dialTLS is how a standby dials https peers: against MASTER_CA_FILE or
// the system's roots, with the client certificate when one is set; nil
// when no peer is https.
func dialTLS(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, log *zap.Logger) (*tls.Config, error) {
	if !slices.ContainsFunc(cfg.Peers, func(p config.Peer) bool { return strings.HasPrefix(p.URL, "https://") }) {
		return nil, nil
	}
	c, r, err := certs.Dialer(cfg.MasterCAFile, "MASTER_CA_FILE", cfg.ClientFiles(), log.Named("tls"))
	if err != nil {
		return nil, err
	}
	if r != nil {
		wg.Go(func() { r.Watch(ctx, 10*time.Second) })
	}
	return c, nil
}

// failoverConfig is the failover node's view of the settings.
func failoverConfig(cfg config.Config, peerTLS *tls.Config) failover.Config {
	peers := make([]failover.Peer, len(cfg.Peers))
	for i, p := range cfg.Peers {
		peers[i] = failover.Peer{Name: p.Name, URL: p.URL}
	}
	return failover.Config{Self: failover.Peer{Name: cfg.NodeName, URL: cfg.AdvertiseURL}, Peers: peers,
		ClusterSize: cfg.ClusterSize, Timeout: cfg.Timeout, Manual: cfg.Manual(), Heartbeat: cfg.HeartbeatInterval,
		Voters: cfg.VoterSet().Digest(), ReplicateURL: config.ReplicateURL,
		Follow: follow.Options{Token: cfg.ReplicationToken, TLS: peerTLS}}
}

// startFields are the start-up line's: the settings an operator checks
// first, each as it reads in the settings ("1s"), and one left at 0 said
// as what 0 means, not as a number that reads as a value set. Each field
// keeps one JSON type whatever its value.
func startFields(cfg config.Config, logID string) []zap.Field {
	return []zap.Field{zap.String("logId", logID), zap.String("httpAddr", cfg.HTTPAddr),
		zap.String("clusterSize", said(cfg.ClusterSize, "unset")), zap.Int("quorum", cfg.Quorum),
		zap.String("writeTimeout", said(cfg.WriteTimeout, "no limit")), zap.Duration("heartbeatInterval", cfg.HeartbeatInterval),
		zap.Duration("replicationLinger", cfg.ReplicationLinger)}
}

// said is a setting for a log line: as it is written in the settings
// (a duration prints as "10s"), or when 0, what 0 means.
func said[T ~int | ~int64 | ~uint64](v T, zero string) string {
	if v == 0 {
		return zero
	}
	return fmt.Sprint(v)
}

// openStore opens the durable log in DATA_DIR, or an in-memory one.
func openStore(cfg config.Config, log *zap.Logger, reg prometheus.Registerer) (store.Store, error) {
	if cfg.DataDir == "" {
		log.Info("the log is in memory (DATA_DIR is not set): a restart starts a new log")
		return store.NewMemory(store.NewLogID()), nil
	}
	opts := cfg.DiskSettings.Options()
	opts.NewLogID, opts.KeepKeys, opts.OnFsync = store.NewLogID(), cfg.IdempotencyMaxKeys, metrics.NewStore(reg).Observe
	d, err := store.OpenDisk(cfg.DataDir, opts)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	store.LogOpened(log, d)
	return d, nil
}
