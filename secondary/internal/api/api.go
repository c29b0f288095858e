// Package api serves the secondary's HTTP routes: reads of the gap-free
// log, health, and a clear refusal of writes.
package api

import (
	"mime"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/follow"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/metrics"
	"github.com/replog/replog/shared/store"
)

// Replication is what the API needs of the replication client.
type Replication interface {
	Connected() bool
	MasterError() string
	StoreError() string
	Counts() (applied, nacksSent uint64)
	Lag() uint64
	ChangeFaults(frame.Faults) (frame.Faults, error)
	// With failover: the leader followed, what was rolled back, and the
	// links to every master-capable node (none without failover).
	Leader() (name, url string, epoch uint64, ok bool)
	LeaderURL() string
	RolledBack() uint64
	Links() []follow.LinkStatus
	// Commit is the commit id the leader last said (reads with
	// committed=true show up to it).
	Commit() *store.Commit
}

// Node is what the API tells of the secondary besides its log.
type Node struct {
	Name   string
	Faults *faults.Injector
	// FaultsAPI turns on PUT /faults; off by default.
	FaultsAPI bool
	// Pprof mounts /debug/pprof for profiling; off by default.
	Pprof bool
	// Registry is served on GET /metrics; nil serves none.
	Registry *prometheus.Registry
	// Reads bound the reads served at once; Draining, when closed, ends
	// the streams and waiting long-polls (the server is shutting down).
	Reads    httpapi.ReadLimits
	Draining <-chan struct{}
}

// Routes returns the secondary's router.
func Routes(node Node, st store.Store, repl Replication) http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	reads := httpapi.NewReads(st, node.Reads, node.Draining).WithCommit(repl.Commit())
	reg := prometheus.Registerer(prometheus.NewRegistry()) // unserved, when the node has none
	if node.Registry != nil {
		reg = node.Registry
	}
	rm := metrics.NewReads(reg)
	r.Get("/messages", rm.Messages(reads.Messages))
	r.Get("/messages/stream", rm.Stream(reads.Stream))
	r.Post("/messages", func(w http.ResponseWriter, r *http.Request) { readOnly(w, repl) })
	r.Post("/newMessage", func(w http.ResponseWriter, r *http.Request) { readOnly(w, repl) })
	r.Post("/promote", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed,
			"a secondary never leads: POST /promote to a master-capable node (a standby)"))
	})
	if node.Pprof {
		r.Mount("/debug", middleware.Profiler())
	}
	if node.Registry != nil {
		r.Handle("/metrics", metrics.Handler(node.Registry))
	}
	r.Put("/faults", func(w http.ResponseWriter, r *http.Request) { setFaults(w, r, node, repl) })
	r.Get("/health", func(w http.ResponseWriter, r *http.Request) {
		master := "disconnected"
		if repl.Connected() {
			master = "connected"
		}
		h := health{
			Role: "secondary", Name: node.Name, Status: "ok", Master: master,
			LogID: st.LogID(), FirstID: st.FirstID(), LastID: st.LastID(), HeldBytes: st.HeldBytes(),
			Faults: node.Faults.Settings(),
		}
		h.CommitID = min(repl.Commit().ID(), h.LastID)
		if master == "disconnected" {
			h.MasterError = repl.MasterError()
		}
		if h.Error = repl.StoreError(); h.Error != "" {
			h.Status = "error"
		}
		if links := repl.Links(); len(links) > 0 { // a cluster with failover
			f := failoverHealth{Leader: leaderOf(repl), RolledBack: repl.RolledBack(), Links: links}
			if _, _, e, ok := repl.Leader(); ok {
				f.Epoch = e
			}
			h.failoverHealth = &f
		}
		httpapi.WriteJSON(w, http.StatusOK, h)
	})
	return r
}

type health struct {
	Role   string `json:"role"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Master string `json:"master"`
	// MasterError says why the master is disconnected, when known.
	MasterError string `json:"masterError,omitempty"`
	LogID       string `json:"logId"`
	FirstID     uint64 `json:"firstId"`
	LastID      uint64 `json:"lastId"`
	// CommitID is the commit id the leader last said, never beyond
	// LastID: what reads with committed=true show up to.
	CommitID  uint64 `json:"commitId"`
	HeldBytes int64  `json:"heldBytes"`
	// Error says why storing fails; status is then "error".
	Error string `json:"error,omitempty"`
	// Faults shows injected faults, so nobody forgets they are on.
	Faults faults.Settings `json:"faults"`
	*failoverHealth
}

// failoverHealth is what a secondary of a cluster with failover adds.
type failoverHealth struct {
	Epoch      uint64              `json:"epoch"`
	Leader     *leader             `json:"leader"` // null while none is followed
	RolledBack uint64              `json:"rolledBack"`
	Links      []follow.LinkStatus `json:"links"`
}

type leader struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// leaderOf is the leader followed, with the base URL of the /replicate
// URL it is followed at; nil while none is.
func leaderOf(repl Replication) *leader {
	name, url, _, ok := repl.Leader()
	if !ok {
		return nil
	}
	if adv := repl.LeaderURL(); adv != "" {
		return &leader{Name: name, URL: adv}
	}
	base := strings.TrimSuffix(url, "/replicate")
	if rest, found := strings.CutPrefix(base, "wss://"); found {
		base = "https://" + rest
	} else {
		base = "http://" + strings.TrimPrefix(base, "ws://")
	}
	return &leader{Name: name, URL: base}
}

// setFaults is PUT /faults: change the injected faults at run time, as
// the master's fault control does over the replication connection.
func setFaults(w http.ResponseWriter, r *http.Request, node Node, repl Replication) {
	if !node.FaultsAPI {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden,
			"fault control is off; start the secondary with FAULTS_API=true"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
		return
	}
	change, err := frame.DecodeFaults(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%v", err))
		return
	}
	if _, err := repl.ChangeFaults(change); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%v", err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, node.Faults.Settings())
}

// readOnly refuses a write; with failover it names the leader to send it to.
func readOnly(w http.ResponseWriter, repl Replication) {
	e := httpapi.Errorf(http.StatusMethodNotAllowed, "secondaries are read-only; send writes to the master")
	if len(repl.Links()) > 0 {
		e.Fields = map[string]any{"leader": leaderOf(repl)}
	}
	httpapi.WriteError(w, e)
}
