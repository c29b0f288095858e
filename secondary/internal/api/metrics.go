package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/replog/replog/secondary/internal/faults"
	"github.com/replog/replog/shared/store"
)

// RegisterMetrics registers the secondary's metrics on r, each read at
// scrape time from where it is kept.
func RegisterMetrics(r prometheus.Registerer, st store.Store, repl Replication, inject *faults.Injector) {
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_log_last_id",
			Help: "The last id of the secondary's gap-free prefix of the log."},
			func() float64 { return float64(st.LastID()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_log_first_id",
			Help: "The oldest id the secondary holds (it follows the master's retention)."},
			func() float64 { return float64(st.FirstID()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_log_held_bytes",
			Help: "Bytes of message text the secondary's log holds."},
			func() float64 { return float64(st.HeldBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_master_connected",
			Help: "1 while a replication session with the master is up."},
			func() float64 {
				if repl.Connected() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_secondary_lag_messages",
			Help: "The master's last id, as its frames last told this secondary (welcome, appends, heartbeats), minus the secondary's own last id."},
			func() float64 { return float64(repl.Lag()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replog_replication_messages_applied_total",
			Help: "Messages applied to the secondary's log."},
			func() float64 { applied, _ := repl.Counts(); return float64(applied) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replog_replication_nacks_sent_total",
			Help: "Resend requests (nacks) sent to the master: gaps, injected failures, heals."},
			func() float64 { _, nacks := repl.Counts(); return float64(nacks) }),
		// Failover's: a secondary that held a deposed leader's tail rolls
		// it back too, and the alert on rolled-back messages must see it
		// (deploy/prometheus/alerts.yml). Both are 0 under a single master.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "replog_epoch",
			Help: "The epoch of the leader this secondary follows; 0 while it follows none, or a master without failover."},
			func() float64 { _, _, e, _ := repl.Leader(); return float64(e) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replog_rolled_back_messages_total",
			Help: "Messages this process moved to rollback files: its log held them, the leader's did not."},
			func() float64 { return float64(repl.RolledBack()) }),
	)
	for _, kind := range []string{"delay", "fail"} {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replog_faults_injected_total",
			Help: "Faults injected: delays waited before applying, append frames refused.", ConstLabels: prometheus.Labels{"kind": kind}},
			func() float64 {
				delays, fails := inject.Injected()
				if kind == "delay" {
					return float64(delays)
				}
				return float64(fails)
			}))
	}
}
