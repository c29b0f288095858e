package api

import (
	_ "embed"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/frame"
	"github.com/replog/replog/shared/httpapi"
)

// The dashboard is one page, served from the binary, with no external
// scripts, fonts or styles: it works on a machine with no internet. It
// polls GET /dashboard/state (see dashboardState) a few times a second.
//
//go:embed dashboard/index.html
var dashboardHTML []byte

func dashboardPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(dashboardHTML)
}

// matrixRows is how many of the newest messages the dashboard's
// replication matrix shows.
const matrixRows = 20

// dashboardState is everything the dashboard shows, in one reply.
type dashboardState struct {
	health
	Time             string              `json:"time"`
	AppendsPerSecond float64             `json:"appendsPerSecond"`
	LatencyP50Ms     float64             `json:"latencyP50Ms"`
	LatencyP99Ms     float64             `json:"latencyP99Ms"`
	Waiting          int                 `json:"waiting"`
	Messages         []frame.Entry       `json:"messages"` // the newest, oldest first, each cut to 80 bytes
	Events           []replication.Event `json:"events"`
	FaultsAPI        bool                `json:"faultsApi"`
	Node             string              `json:"node,omitempty"` // with failover: this node's NODE_NAME
	// Promotions, with failover, count the times this node came to lead
	// since it started, by reason (failover, switchover).
	Promotions map[string]uint64 `json:"promotions,omitempty"`
}

// dashboardState is GET /dashboard/state.
func (s *Server) dashboardState(w http.ResponseWriter, r *http.Request) {
	st := dashboardState{health: s.healthNow(), Time: time.Now().UTC().Format(time.RFC3339Nano),
		Waiting: s.hub.Waiting(), Events: s.hub.Events(), FaultsAPI: s.opts.FaultsAPI}
	if s.opts.Failover != nil {
		st.Node, st.Promotions = s.opts.NodeName, s.opts.Failover.Status().Promotions
	}
	rate, p50, p99 := s.recent.summary()
	st.AppendsPerSecond, st.LatencyP50Ms, st.LatencyP99Ms = rate, p50.Seconds()*1000, p99.Seconds()*1000
	from := uint64(1)
	if st.LastID > matrixRows {
		from = st.LastID - matrixRows + 1
	}
	msgs, err := s.store.Read(nil, from, matrixRows, 1<<20)
	if err != nil {
		writeError(w, fmt.Errorf("read the newest messages: %w", err))
		return
	}
	for i, e := range msgs {
		if len(e.Message) > 80 {
			e.Message = e.Message[:80] + "…"
		}
		msgs[i] = frame.Entry{ID: e.ID, Message: e.Message} // the epoch, key and at are the frames', not the page's
	}
	st.Messages = msgs
	if st.Messages == nil { // an empty log
		st.Messages = []frame.Entry{}
	}
	if st.Events == nil { // a standby that never led has none
		st.Events = []replication.Event{}
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}

// setFaults is PUT /secondaries/{name}/faults: change a secondary's
// injected faults at run time, over its replication connection.
func (s *Server) setFaults(w http.ResponseWriter, r *http.Request) {
	if !s.opts.FaultsAPI {
		writeError(w, httpapi.Errorf(http.StatusForbidden,
			"fault control is off; start the master (and the secondary) with FAULTS_API=true"))
		return
	}
	change, err := parseFaults(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	inForce, err := s.hub.SetFaults(r.Context(), chi.URLParam(r, "name"), change)
	if err != nil {
		writeError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, inForce)
}

// parseFaults reads a change of faults (see frame.DecodeFaults).
func parseFaults(w http.ResponseWriter, r *http.Request) (frame.Faults, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return frame.Faults{}, httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
	}
	f, err := frame.DecodeFaults(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		return f, httpapi.Errorf(http.StatusBadRequest, "%v", err)
	}
	return f, nil
}
