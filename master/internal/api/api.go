// Package api serves the master's HTTP routes: appends with a write
// concern, reads, health, and the replication endpoint.
package api

import (
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
	"github.com/replog/replog/shared/store"
)

// bodyReadTimeout bounds how long a client may take to send an append
// body, so a slow sender cannot hold a connection open forever. The wait
// for the write concern that follows is not bounded by it.
const bodyReadTimeout = 30 * time.Second

// Server holds what the master's routes need.
type Server struct {
	store  store.Store
	hub    *replication.Hub
	limits Limits
	log    *zap.Logger
}

// New returns the master's API over st, replicated by hub.
func New(st store.Store, hub *replication.Hub, limits Limits, log *zap.Logger) *Server {
	return &Server{store: st, hub: hub, limits: limits, log: log}
}

// Routes returns the master's router.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Post("/messages", s.append)
	r.Post("/newMessage", s.append) // the original system's route, kept for its users' scripts
	r.Get("/messages", httpapi.Messages(s.store))
	r.Get("/health", s.health)
	r.Get("/replicate", s.hub.ServeHTTP)
	return r
}

func (s *Server) append(w http.ResponseWriter, r *http.Request) {
	req, err := s.parse(w, r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, err := s.store.Append(req.Message)
	if err != nil {
		s.log.Error("append failed", zap.Error(err))
		httpapi.WriteError(w, err)
		return
	}
	s.hub.Notify()
	if wait := s.hub.Wait(id, req.WriteConcern-1); wait != nil {
		select {
		case <-wait.Done:
		case <-r.Context().Done():
			// The client is gone; the message stays and keeps replicating.
			s.hub.Cancel(wait)
			return
		}
	}
	acks := 1 + s.hub.Holders(id)
	b := append([]byte(`{"id":`), strconv.FormatUint(id, 10)...)
	b = append(append(append(b, `,"acks":`...), strconv.Itoa(acks)...), "}\n"...)
	httpapi.WriteRaw(w, http.StatusCreated, b)
}

func (s *Server) parse(w http.ResponseWriter, r *http.Request) (AppendRequest, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return AppendRequest{}, httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body := http.MaxBytesReader(w, r.Body, int64(frame.EncodedEntrySize(s.limits.MaxMessageBytes))+4096)
	return ParseAppend(body, s.limits)
}

// health is the master's GET /health.
type health struct {
	Role        string                        `json:"role"`
	Status      string                        `json:"status"`
	LogID       string                        `json:"logId"`
	LastID      uint64                        `json:"lastId"`
	Secondaries []replication.SecondaryStatus `json:"secondaries"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, health{
		Role:        "master",
		Status:      "ok",
		LogID:       s.store.LogID(),
		LastID:      s.store.LastID(),
		Secondaries: s.hub.Secondaries(),
	})
}
