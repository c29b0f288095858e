package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/replog/replog/master/internal/failover"
	"github.com/replog/replog/master/internal/replication"
	"github.com/replog/replog/shared/metrics"
)

// appendMetrics count and time the appends the master answers.
type appendMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAppendMetrics(r prometheus.Registerer) *appendMetrics {
	m := &appendMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replog_append_requests_total",
			Help: "Appends answered, by result: created, duplicate, bad_request, too_large, unsupported_media_type, conflict, read_only, timeout, error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "replog_append_duration_seconds",
			Help:    "Time from an append's arrival to its reply, by the write concern it asked for.",
			Buckets: metrics.DurationBuckets,
		}, []string{"write_concern"}),
	}
	for _, res := range []string{"created", "duplicate", "bad_request", "too_large", "unsupported_media_type",
		"conflict", "read_only", "timeout", "error"} {
		m.requests.WithLabelValues(res) // every result shows from the start, at 0
	}
	r.MustRegister(m.requests, m.duration)
	return m
}

// resultOf names an append's outcome for replog_append_requests_total,
// from the error it was answered with (nil: created).
func resultOf(err error, duplicate bool) string {
	if err == nil {
		if duplicate {
			return "duplicate"
		}
		return "created"
	}
	if errors.Is(err, errReadOnly) {
		return "read_only"
	}
	switch replyError(err).Status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		return "conflict"
	case http.StatusGatewayTimeout:
		return "timeout"
	}
	return "error"
}

// clusterCollector computes the cluster's gauges at scrape time, from the
// hub and the store, so that a forgotten secondary leaves no series
// behind.
type clusterCollector struct{ s *Server }

var (
	descLastID    = prometheus.NewDesc("replog_log_last_id", "The last id in the log.", nil, nil)
	descFirstID   = prometheus.NewDesc("replog_log_first_id", "The oldest id the log holds (retention drops what is below).", nil, nil)
	descHeld      = prometheus.NewDesc("replog_log_held_bytes", "Bytes of message text the log holds.", nil, nil)
	descWaiting   = prometheus.NewDesc("replog_appends_waiting", "Appends waiting for their write concern now.", nil, nil)
	descConnected = prometheus.NewDesc("replog_secondaries_connected", "Secondaries connected now.", nil, nil)
	descAcked     = prometheus.NewDesc("replog_secondary_acked_id", "The highest id a secondary holds, by its acks.", []string{"secondary"}, nil)
	descLag       = prometheus.NewDesc("replog_secondary_lag_messages", "The master's last id minus a secondary's acked id.", []string{"secondary"}, nil)
	descState     = prometheus.NewDesc("replog_secondary_state", "1 for a secondary's state now (healthy, suspected, unhealthy, or gone: replaced by a newcomer), 0 for the others.", []string{"secondary", "state"}, nil)
	descHealthy   = prometheus.NewDesc("replog_quorum_healthy_nodes", "Nodes healthy now, master included.", nil, nil)
	descRequired  = prometheus.NewDesc("replog_quorum_required_nodes", "Nodes that must be healthy for appends to be taken, master included.", nil, nil)
	descReadOnly  = prometheus.NewDesc("replog_read_only", "1 while appends are refused for want of a quorum.", nil, nil)
	descMessages  = prometheus.NewDesc("replog_replication_messages_sent_total", "Messages sent to a secondary, resends included.", []string{"secondary"}, nil)
	descFrames    = prometheus.NewDesc("replog_replication_frames_sent_total", "Append frames sent to a secondary (messages ÷ frames is the batching).", []string{"secondary"}, nil)
	descAcks      = prometheus.NewDesc("replog_replication_acks_received_total", "Acks from a secondary (acks ÷ frames sent: how many frames one ack answers).", []string{"secondary"}, nil)
	descNacks     = prometheus.NewDesc("replog_replication_nacks_received_total", "Resend requests (nacks) from a secondary.", []string{"secondary"}, nil)
	descSessions  = prometheus.NewDesc("replog_replication_sessions_total", "Replication sessions a secondary opened.", []string{"secondary"}, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastID, descFirstID, descHeld, descWaiting, descConnected, descAcked, descLag, descState,
		descHealthy, descRequired, descReadOnly, descMessages, descFrames, descAcks, descNacks, descSessions} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descLastID, float64(s.store.LastID()))
	gauge(descFirstID, float64(s.store.FirstID()))
	gauge(descHeld, float64(s.store.HeldBytes()))
	gauge(descWaiting, float64(s.hub.Waiting()))
	secs := s.hub.Secondaries()
	connected := 0
	for _, sec := range secs {
		if sec.Connected {
			connected++
		}
		gauge(descAcked, float64(sec.AckedID), sec.Name)
		gauge(descLag, float64(sec.Lag), sec.Name)
		// A gone secondary is no failing replica: it is not unhealthy here,
		// so alerts on that state do not fire for it.
		for _, st := range []replication.Status{replication.Healthy, replication.Suspected, replication.Unhealthy} {
			gauge(descState, boolValue(sec.Status == st && !sec.Gone), sec.Name, string(st))
		}
		gauge(descState, boolValue(sec.Gone), sec.Name, "gone")
		counter(descMessages, sec.MessagesSent, sec.Name)
		counter(descFrames, sec.FramesSent, sec.Name)
		counter(descAcks, sec.AcksReceived, sec.Name)
		counter(descNacks, sec.NacksReceived, sec.Name)
		counter(descSessions, sec.Sessions, sec.Name)
	}
	gauge(descConnected, float64(connected))
	healthy := s.hub.HealthyNodes()
	gauge(descHealthy, float64(healthy))
	gauge(descRequired, float64(s.opts.Quorum))
	gauge(descReadOnly, boolValue(healthy < s.opts.Quorum))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observe records an answered append.
func (m *appendMetrics) observe(err error, duplicate bool, writeConcern int, seconds float64) {
	m.requests.WithLabelValues(resultOf(err, duplicate)).Inc()
	if writeConcern > 0 {
		m.duration.WithLabelValues(strconv.Itoa(writeConcern)).Observe(seconds)
	}
}

// failoverCollector is a master-capable node's failover gauges and
// counters (PEERS only).
type failoverCollector struct{ f Failover }

var (
	descEpoch      = prometheus.NewDesc("replog_epoch", "The epoch this node leads or follows (its promise while it knows no leader).", nil, nil)
	descIsLeader   = prometheus.NewDesc("replog_is_leader", "1 while this node leads, 0 on a standby.", nil, nil)
	descHasLeader  = prometheus.NewDesc("replog_leader_known", "1 while this node leads or follows a leader, 0 while it knows none.", nil, nil)
	descPromotions = prometheus.NewDesc("replog_promotions_total", "Times this process came to lead, by reason (failover, switchover).", []string{"reason"}, nil)
	descRolledBack = prometheus.NewDesc("replog_rolled_back_messages_total", "Messages this process moved to rollback files: its log held them, the leader's did not.", nil, nil)
)

func (c failoverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEpoch, descIsLeader, descHasLeader, descPromotions, descRolledBack} {
		ch <- d
	}
}

func (c failoverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f.Status()
	ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(st.Epoch))
	ch <- prometheus.MustNewConstMetric(descIsLeader, prometheus.GaugeValue, boolValue(st.Role == failover.RoleLeader))
	ch <- prometheus.MustNewConstMetric(descHasLeader, prometheus.GaugeValue, boolValue(st.Leader != nil))
	for _, reason := range []string{failover.ReasonFailover, failover.ReasonSwitchover} {
		ch <- prometheus.MustNewConstMetric(descPromotions, prometheus.CounterValue, float64(st.Promotions[reason]), reason)
	}
	ch <- prometheus.MustNewConstMetric(descRolledBack, prometheus.CounterValue, float64(st.RolledBack))
}
