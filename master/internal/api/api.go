// Package api serves the master's HTTP routes: appends with a write
// concern, reads, health, and the replication endpoint.
package api

import (
	"encoding/json"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/failover"
	"github.com/replog/replog/master/internal/idempotency"
	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/store"
)

// bodyReadTimeout bounds how long a client may take to send an append
// body, so a slow sender cannot hold a connection open forever. The wait
// for the write concern that follows is not bounded by it.
const bodyReadTimeout = 30 * time.Second

// Options are the settings of the master's API.
type Options struct {
	Limits
	// MaxBatchBytes bounds a request body (413 beyond); it must hold a
	// batch of MaxBatchMessages (Limits).
	MaxBatchBytes int64
	// Quorum is how many nodes, master included, must be healthy for
	// appends to be accepted.
	Quorum int
	// WriteTimeout bounds the wait for a write concern when a request
	// names no timeoutMs; 0 waits without limit.
	WriteTimeout time.Duration
	// MaxWaitingWrites bounds the appends waiting for their write concern
	// at once; beyond it an append that would wait is refused (503)
	// before anything is stored. 0 means the default, 10000.
	MaxWaitingWrites int
	// IdempotencyWindow and IdempotencyMaxKeys bound how long and how
	// many Idempotency-Keys are remembered.
	IdempotencyWindow  time.Duration
	IdempotencyMaxKeys int
	// Pprof mounts /debug/pprof for profiling; off by default.
	Pprof bool
	// FaultsAPI turns on PUT /secondaries/{name}/faults (fault control);
	// off by default.
	FaultsAPI bool
	// Registry is where the master's metrics are registered and served
	// from (GET /metrics); nil serves none.
	Registry *prometheus.Registry
	// Reads bound the reads served at once; Draining, when closed, ends
	// the streams and waiting long-polls (the server is shutting down).
	Reads    httpapi.ReadLimits
	Draining <-chan struct{}
	// Failover, with PEERS, is the node this API serves: writes go to its
	// leader, POST /promote promotes it. nil for a single master.
	Failover Failover
	// NodeName is this node's NODE_NAME (with Failover).
	NodeName string
	// PeerClient reaches the other master-capable nodes for the
	// dashboard (dashboard_nodes.go); nil is http.DefaultClient.
	PeerClient *http.Client
	// Authorized checks a request's bearer token (POST /promote); nil
	// lets every request through.
	Authorized func(*http.Request) bool
}

// Server holds what the master's routes need.
type Server struct {
	store store.Store
	hub   *replication.Hub
	opts  Options
	log   *zap.Logger
	peers *http.Client // opts.PeerClient, or the default

	keysMu   sync.Mutex
	keys     *idempotency.Table // guarded by keysMu
	keysTerm *replication.Term  // guarded by keysMu; the term keys was built for (failover)

	metrics *appendMetrics
	reads   *metrics.Reads
	recent  recentAppends
	lags    lagRing
	waiting atomic.Int64 // places of MaxWaitingWrites taken
}

// New returns the master's API over st, replicated by hub. The
// idempotency keys a durable st kept are remembered again.
func New(st store.Store, hub *replication.Hub, opts Options, log *zap.Logger) *Server {
	if opts.Authorized == nil {
		opts.Authorized = func(*http.Request) bool { return true }
	}
	if opts.MaxWaitingWrites == 0 {
		opts.MaxWaitingWrites = 10000
	}
	s := &Server{store: st, hub: hub, opts: opts, log: log, peers: opts.PeerClient}
	if s.peers == nil {
		s.peers = http.DefaultClient
	}
	s.keys = s.restoreKeys(time.Now())
	reg := prometheus.Registerer(prometheus.NewRegistry()) // unserved, when the caller has none
	if opts.Registry != nil {
		reg = opts.Registry
	}
	s.metrics = newAppendMetrics(reg)
	s.reads = metrics.NewReads(reg)
	reg.MustRegister(clusterCollector{s})
	if opts.Failover != nil {
		reg.MustRegister(failoverCollector{opts.Failover})
	}
	return s
}

// restoreKeys is a key table of the Idempotency-Keys the log holds.
func (s *Server) restoreKeys(now time.Time) *idempotency.Table {
	keys := idempotency.NewTable(s.opts.IdempotencyWindow, s.opts.IdempotencyMaxKeys)
	for _, k := range s.store.Keys() {
		keys.Restore(k.Key, k.Digest, k.ID, k.Time, now)
	}
	return keys
}

// Routes returns the master's router.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Post("/messages", s.append)
	r.Post("/newMessage", s.append) // the original system's route, kept for its users' scripts
	reads := httpapi.NewReads(s.store, s.opts.Reads, s.opts.Draining)
	if c := s.hub.Commit(); c != nil {
		reads.WithCommit(c)
	}
	r.Get("/messages", s.reads.Messages(reads.Messages))
	r.Get("/messages/stream", s.reads.Stream(reads.Stream))
	r.Get("/health", s.health)
	r.Get("/replicate", s.hub.ServeHTTP)
	if s.opts.Registry != nil {
		r.Handle("/metrics", metrics.Handler(s.opts.Registry))
	}
	r.Get("/", dashboardPage)
	r.Get("/dashboard/state", s.dashboardState)
	r.Get("/dashboard/history", s.dashboardHistory)
	r.Put("/secondaries/{name}/faults", s.setFaults)
	if s.opts.Failover != nil {
		r.Post("/promote", s.promote)
		r.Get("/dashboard/nodes/{name}/state", s.nodeRead("/dashboard/state", s.dashboardState))
		r.Get("/dashboard/nodes/{name}/history", s.nodeRead("/dashboard/history", s.dashboardHistory))
		r.Post("/dashboard/nodes/{name}/promote", s.nodePromote)
	}
	if s.opts.Pprof {
		r.Mount("/debug", middleware.Profiler())
	}
	return r
}

func (s *Server) parse(w http.ResponseWriter, r *http.Request) (AppendRequest, error) {
	// The common case needs no parsing (ParseMediaType allocates a map).
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return AppendRequest{}, httpapi.Errorf(http.StatusUnsupportedMediaType,
				"Content-Type must be application/json, got %q", ct)
		}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	// A body may hold one message of the largest size, or a batch.
	limit := max(int64(frame.EncodedEntrySize(s.opts.MaxMessageBytes))+4096, s.opts.MaxBatchBytes)
	body := http.MaxBytesReader(w, r.Body, limit)
	return ParseAppend(body, s.opts.Limits)
}

// health is the master's GET /health.
type health struct {
	Role        string                        `json:"role"`
	Status      string                        `json:"status"`
	LogID       string                        `json:"logId"`
	FirstID     uint64                        `json:"firstId"`
	LastID      uint64                        `json:"lastId"`
	CommitID    *uint64                       `json:"commitId"` // null: no commit id known (no CLUSTER_SIZE)
	HeldBytes   int64                         `json:"heldBytes"`
	Quorum      quorum                        `json:"quorum"`
	Secondaries []replication.SecondaryStatus `json:"secondaries"`

	// With failover (PEERS) only.
	Epoch      *uint64               `json:"epoch,omitempty"`
	Leader     *json.RawMessage      `json:"leader,omitempty"` // {name, url}, or null while none is known
	Peers      []failover.PeerStatus `json:"peers,omitempty"`
	RolledBack *uint64               `json:"rolledBack,omitempty"`
	Learner    bool                  `json:"learner,omitempty"`
}

type quorum struct {
	Required int `json:"required"`
	Healthy  int `json:"healthy"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, s.healthNow())
}

func (s *Server) healthNow() health {
	h := health{
		Role:        "master",
		Status:      "ok",
		LogID:       s.store.LogID(),
		FirstID:     s.store.FirstID(),
		LastID:      s.store.LastID(),
		HeldBytes:   s.store.HeldBytes(),
		Quorum:      quorum{Required: s.opts.Quorum, Healthy: s.hub.HealthyNodes()},
		Secondaries: s.hub.Secondaries(),
	}
	if c := s.hub.Commit(); c != nil {
		id := min(c.ID(), h.LastID)
		h.CommitID = &id
	}
	if h.Quorum.Healthy < h.Quorum.Required {
		h.Status = "read-only"
	}
	if s.opts.Failover != nil {
		st := s.opts.Failover.Status()
		leader := json.RawMessage("null")
		if st.Leader != nil {
			leader, _ = json.Marshal(peerJSON(*st.Leader)) // a map of strings always marshals
		}
		h.Role, h.Epoch, h.Leader, h.Peers, h.RolledBack, h.Learner = string(st.Role), &st.Epoch, &leader, st.Peers, &st.RolledBack, st.Learner
		if h.Peers == nil {
			h.Peers = []failover.PeerStatus{}
		}
		if st.Role != failover.RoleLeader {
			h.Status = "ok"
			if st.Leader == nil {
				h.Status = "no leader"
			}
			h.Quorum = quorum{Required: s.opts.Quorum}
			h.Secondaries = []replication.SecondaryStatus{}
		}
	}
	return h
}
