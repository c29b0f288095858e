package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/replog/replog/master/internal/failover"
	"github.com/replog/replog/shared/httpapi"
)

// With failover the dashboard may be served by any master-capable node,
// and shows every one of them. It reads another node's state, and asks a
// standby to promote, through the node that served it:
//
//	GET  /dashboard/nodes/{name}/state    that node's GET /dashboard/state
//	GET  /dashboard/nodes/{name}/history  that node's GET /dashboard/history
//	POST /dashboard/nodes/{name}/promote  that node's POST /promote
//
// The page then only ever calls its own origin, so no node needs CORS
// (which would open /promote to scripts of any site a browser visits);
// the node forwards only to the nodes PEERS names, at the URL PEERS gives
// them, so it is no open proxy; and it passes the request's
// Authorization header on unchanged, so the node promoted checks the
// REPLICATION_TOKEN itself: the page's node grants nothing of its own.

// peerStateWait bounds a read of another node's dashboard state: the page
// asks again 300 ms later, and a node that is down must show as such.
const peerStateWait = time.Second

// nodeURL is the base URL of the master-capable node name as PEERS gives
// it; self is true for this node.
func (s *Server) nodeURL(name string) (url string, self bool, ok bool) {
	if name == s.opts.NodeName {
		return "", true, true
	}
	for _, p := range s.opts.Failover.Status().Peers {
		if p.Name == name {
			return p.URL, false, true
		}
	}
	return "", false, false
}

// nodeRead is GET /dashboard/nodes/{name}/<path>: local serves this
// node's own.
func (s *Server) nodeRead(path string, local http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		url, self, ok := s.nodeURL(chi.URLParam(r, "name"))
		switch {
		case !ok:
			s.unknownNode(w, r)
		case self:
			local(w, r)
		default:
			ctx, cancel := context.WithTimeout(r.Context(), peerStateWait)
			defer cancel()
			s.forward(w, r.WithContext(ctx), url+path)
		}
	}
}

// nodePromote is POST /dashboard/nodes/{name}/promote.
func (s *Server) nodePromote(w http.ResponseWriter, r *http.Request) {
	url, self, ok := s.nodeURL(chi.URLParam(r, "name"))
	switch {
	case !ok:
		s.unknownNode(w, r)
	case self:
		s.promote(w, r)
	default:
		ctx, cancel := context.WithTimeout(r.Context(), failover.PromoteWait+time.Second)
		defer cancel()
		s.forward(w, r.WithContext(ctx), url+"/promote")
	}
}

func (s *Server) unknownNode(w http.ResponseWriter, r *http.Request) {
	writeError(w, httpapi.Errorf(http.StatusNotFound, "no master-capable node %q: PEERS names the nodes this one knows",
		chi.URLParam(r, "name")))
}

// forward sends r's method, with no body and r's Authorization header,
// to url, and copies the answer back; a node that cannot be reached is a
// 502 naming it.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, url string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, nil)
	if err != nil {
		writeError(w, httpapi.Errorf(http.StatusBadGateway, "%s: %v", url, err))
		return
	}
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.peers.Do(req)
	if err != nil {
		writeError(w, httpapi.Errorf(http.StatusBadGateway, "%s %s: %v", r.Method, url, err))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 4<<20))
}
