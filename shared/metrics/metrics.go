// Package metrics holds what both replog binaries expose on GET /metrics
// the same way: a registry of their own with the Go and process
// collectors and replog_build_info, the store's fsync histograms, and the
// handler that serves it all in Prometheus's text format.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/replog/replog/shared/frame"
)

// Version is replog's version, set at build time with
// -ldflags "-X github.com/replog/replog/shared/metrics.Version=…"; without
// it, the module's version, or "dev".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// NewRegistry returns a registry holding the Go and process collectors and
// replog_build_info.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "replog_build_info",
		Help: "Always 1; its labels say which replog is running.",
		ConstLabels: prometheus.Labels{"version": version(), "goversion": runtime.Version(),
			"protocol_version": strconv.Itoa(frame.Version)},
	})
	info.Set(1)
	r.MustRegister(info)
	return r
}

// Handler serves r's metrics.
func Handler(r *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{Registry: r})
}

// Store is the durable log's fsync histograms; its Observe fits
// store.DiskOptions.OnFsync.
type Store struct {
	duration prometheus.Histogram
	records  prometheus.Histogram
}

// NewStore registers the durable log's histograms on r.
func NewStore(r prometheus.Registerer) *Store {
	s := &Store{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "replog_store_fsync_duration_seconds",
			Help:    "How long each fsync of the durable log took.",
			Buckets: Buckets(50e-6, 1),
		}),
		records: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "replog_store_records_per_fsync",
			Help:    "Records made durable by each fsync (group commit).",
			Buckets: Buckets(1, 5000),
		}),
	}
	r.MustRegister(s.duration, s.records)
	return s
}

// Observe records one fsync that took d and made records durable.
func (s *Store) Observe(d time.Duration, records int) {
	s.duration.Observe(d.Seconds())
	s.records.Observe(float64(records))
}
