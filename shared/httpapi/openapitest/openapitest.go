// Package openapitest holds the servers to docs/openapi.yaml in tests:
// every request a test makes and every response it gets are validated
// against the description (with kin-openapi), so the two cannot drift.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

var load = sync.OnceValues(func() (routers.Router, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for { // docs/ is beside go.work, at the top of the repository
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, os.ErrNotExist
		}
		dir = parent
	}
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "docs", "openapi.yaml"))
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil // match paths on whatever address the test server has
	// The dashboard is HTML; its body is checked as a string.
	openapi3filter.RegisterBodyDecoder("text/html", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef,
		_ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	return gorillamux.NewRouter(doc)
})

// Transport wraps next (nil: http.DefaultTransport) so that every request
// through it and its response are checked against docs/openapi.yaml. A
// request the description does not allow must be refused with a 4xx; every
// response must be described. Event streams are checked by status and
// content type only (their body never ends).
func Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	router, err := load()
	if err != nil {
		t.Fatalf("load docs/openapi.yaml: %v", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{t: t, router: router, next: next}
}

type roundTripper struct {
	t      testing.TB
	router routers.Router
	next   http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	copyReq := req.Clone(req.Context())
	copyReq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := rt.router.FindRoute(copyReq)
	if err != nil {
		rt.t.Errorf("openapi: %s %s is not in docs/openapi.yaml: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: copyReq, PathParams: params, Route: route, Options: opts}
	if reqErr := openapi3filter.ValidateRequest(req.Context(), in); reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		rt.t.Errorf("openapi: %s %s breaks docs/openapi.yaml (%v), yet was answered %d", req.Method, req.URL.Path,
			firstLine(reqErr), resp.StatusCode)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		out.Options.ExcludeResponseBody = true
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		out.SetBodyBytes(b)
	}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		rt.t.Errorf("openapi: the %d reply to %s %s breaks docs/openapi.yaml: %v", resp.StatusCode, req.Method,
			req.URL.Path, firstLine(err))
	}
	return resp, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
