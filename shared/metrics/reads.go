package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reads count, time and gauge the reads a node serves, by kind: "page"
// (GET /messages), "long_poll" (GET /messages with waitMs) and "stream"
// (GET /messages/stream). It wraps the handlers where they are routed, so
// the handlers themselves know nothing of it.
type Reads struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	open     *prometheus.GaugeVec
}

// Read kinds, the values of the "kind" label.
const (
	KindPage     = "page"
	KindLongPoll = "long_poll"
	KindStream   = "stream"
)

// NewReads registers the read metrics on r.
func NewReads(r prometheus.Registerer) *Reads {
	m := &Reads{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replog_read_requests_total",
			Help: "Reads answered, by kind (page, long_poll, stream) and HTTP status code; a stream counts when it ends.",
		}, []string{"kind", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "replog_read_duration_seconds",
			Help: "Time from a read's arrival to its end, by kind: a long-poll's wait and a stream's whole life included.",
			// A stream lives up to hours: its edges go on to 1000 s.
			Buckets: Buckets(100e-6, 1000),
		}, []string{"kind"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "replog_reads_open",
			Help: "Reads being served now, by kind: open streams and waiting long-polls hold MAX_STREAMS places.",
		}, []string{"kind"}),
	}
	for _, kind := range []string{KindPage, KindLongPoll, KindStream} {
		// Every kind shows from the start, at 0.
		m.requests.WithLabelValues(kind, "200")
		m.duration.WithLabelValues(kind)
		m.open.WithLabelValues(kind)
	}
	r.MustRegister(m.requests, m.duration, m.open)
	return m
}

// Messages wraps GET /messages: a page, or a long-poll when waitMs is set
// and not 0.
func (m *Reads) Messages(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind := KindPage
		if ms := r.URL.Query().Get("waitMs"); ms != "" && ms != "0" {
			kind = KindLongPoll
		}
		m.serve(kind, h, w, r)
	}
}

// Stream wraps GET /messages/stream.
func (m *Reads) Stream(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { m.serve(KindStream, h, w, r) }
}

func (m *Reads) serve(kind string, h http.HandlerFunc, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	open := m.open.WithLabelValues(kind)
	open.Inc()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		open.Dec()
		code := sw.code
		if code == 0 {
			code = http.StatusOK // nothing written: net/http answers 200
		}
		m.requests.WithLabelValues(kind, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}()
	h(sw, r)
}

// statusWriter remembers the status a handler answered with. Unwrap lets
// http.ResponseController reach the connection beneath (a stream's
// flushes and write deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
