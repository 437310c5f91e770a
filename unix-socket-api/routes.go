package socketapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/pool"
)

type route struct {
	method, path string
	h            http.HandlerFunc
}

// routes builds the mux. Every path also gets a method-less pattern that
// answers 405 in JSON (the mux's own 405 is plain text), and "/" answers 404.
func (s *Server) routes() http.Handler {
	rs := []route{
		{http.MethodGet, "/v1/health", s.handleHealth},
		{http.MethodGet, "/v1/pools", s.handlePools},
		{http.MethodGet, "/v1/pools/{provider}", s.handlePool},
		{http.MethodPost, "/v1/pools/{provider}/select", s.handleSelect},
		{http.MethodPost, "/v1/pools/{provider}/report", s.handleReport},
		{http.MethodPost, "/v1/leases/{lease_id}/release", s.handleRelease},
		{http.MethodPost, "/v1/pools/{provider}/entries", s.handleAdd},
		{http.MethodDelete, "/v1/pools/{provider}/entries/{target}", s.handleRemove},
		{http.MethodPost, "/v1/pools/{provider}/reset", s.handleReset},
		{http.MethodPost, "/v1/pools/{provider}/repair", s.handleRepair},
		{http.MethodGet, "/v1/events", s.handleEvents},
		{http.MethodGet, "/metrics", s.metrics.handler(s.log).ServeHTTP},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range rs {
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, s.metrics.instrument(pattern, rt.h))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, apitype.CodeMethodNotAllowed,
				fmt.Sprintf("method %s is not allowed here; use %s", pool.Quote(r.Method), allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, "no such endpoint")
	})
	return mux
}
