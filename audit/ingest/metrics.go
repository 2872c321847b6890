package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovgate/sovgate/internal/metricsreg"
)

// The audit metrics are created once per process and registered with each
// configuration's registry (RegisterMetrics), as Caddy's own modules do.
var metrics = struct {
	written, spooled, replayed, dropped, merged prometheus.Counter
	queueDepth, spoolRecords, storeUp           prometheus.Gauge
}{
	written: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "records_written_total",
		Help: "Audit entries written to the store directly (decisions and completions).",
	}),
	spooled: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "records_spooled_total",
		Help: "Audit entries written to the local spool because the store was down or slow (a batch the store then committed late is counted here too; the replay skips it).",
	}),
	replayed: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "records_replayed_total",
		Help: "Spooled audit entries written to the store when it came back.",
	}),
	dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "records_dropped_total",
		Help: "Audit entries lost: neither the store nor the spool took them. Should stay 0.",
	}),
	merged: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "records_merged_total",
		Help: "Decisions written with their completion as one entry (the exchange ended before the decision was written).",
	}),
	queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "queue_depth",
		Help: "Audit entries taken and neither committed nor spooled yet: queued, gathered into a batch, or in the commit under way.",
	}),
	spoolRecords: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "spool_records",
		Help: "Audit entries in the spool waiting to be replayed to the store.",
	}),
	storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "store_up",
		Help: "1 when the last write to the audit store succeeded, 0 while records go to the spool.",
	}),
}

// RegisterMetrics registers the audit metrics with a registry; registering
// them again (another configuration) is not an error.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metricsreg.Register(reg,
		metrics.written, metrics.spooled, metrics.replayed, metrics.dropped, metrics.merged,
		metrics.queueDepth, metrics.spoolRecords, metrics.storeUp)
}
