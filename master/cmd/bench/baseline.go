package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// serveBaseline is the ceiling replog is compared with: decode the same
// body, append under a mutex, answer 201 with the id. GET /health answers
// {} so that it starts like a replog node.
func serveBaseline(addr string) error {
	var mu sync.Mutex
	var log []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/health" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
			return
		}
		var req struct {
			Message      string `json:"message"`
			WriteConcern int    `json:"writeConcern"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		log = append(log, req.Message)
		id := len(log)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":` + strconv.Itoa(id) + `,"acks":1}`))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, h)
}
