// Package api serves the secondary's HTTP routes: reads of the gap-free
// log, health, and a clear refusal of writes.
package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// Replication is what the API needs to know of the replication client.
type Replication interface {
	Connected() bool
	StoreError() string
}

// Node is what /health tells of the secondary besides its log.
type Node struct {
	Name   string
	Faults faults.Settings
	// Pprof mounts /debug/pprof for profiling; off by default.
	Pprof bool
}

// Routes returns the secondary's router.
func Routes(node Node, st store.Store, repl Replication) http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Get("/messages", httpapi.Messages(st))
	r.Post("/messages", readOnly)
	r.Post("/newMessage", readOnly)
	if node.Pprof {
		r.Mount("/debug", middleware.Profiler())
	}
	r.Get("/health", func(w http.ResponseWriter, r *http.Request) {
		master := "disconnected"
		if repl.Connected() {
			master = "connected"
		}
		h := health{
			Role: "secondary", Name: node.Name, Status: "ok", Master: master,
			LogID: st.LogID(), LastID: st.LastID(), Faults: node.Faults,
		}
		if h.Error = repl.StoreError(); h.Error != "" {
			h.Status = "error"
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
	LogID  string `json:"logId"`
	LastID uint64 `json:"lastId"`
	// Error says why storing fails; status is then "error".
	Error string `json:"error,omitempty"`
	// Faults shows injected faults, so nobody forgets they are on.
	Faults faults.Settings `json:"faults"`
}

func readOnly(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed,
		"secondaries are read-only; send writes to the master"))
}
