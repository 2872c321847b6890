package checkpoint

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovgate/sovgate/internal/metricsreg"
)

// The checkpoint metrics are created once per process and registered with
// each configuration's registry (RegisterMetrics).
var metrics = struct {
	signed, dirFailures, conflicts prometheus.Counter
	size                           prometheus.Gauge
	cosigned, witnessFailures      *prometheus.CounterVec
}{
	signed: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "checkpoints_signed_total",
		Help: "Checkpoints of the audit log's Merkle tree signed by this gateway.",
	}),
	dirFailures: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "checkpoint_dir_failures_total",
		Help: "Checkpoints that could not be appended to the checkpoint directory (audit_checkpoints).",
	}),
	conflicts: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "checkpoint_conflicts_total",
		Help: "Times the chain in the store did not extend the last signed checkpoint (a cut or rewritten log). Should stay 0.",
	}),
	size: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "checkpoint_tree_size",
		Help: "Tree size (entries of the chain) of the latest signed checkpoint.",
	}),
	cosigned: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "witness_cosignatures_total",
		Help: "Checkpoints cosigned by each witness (audit_witness).",
	}, []string{"witness"}),
	witnessFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "audit", Name: "witness_failures_total",
		Help: "Submissions of a checkpoint to a witness that failed (unreachable, refused, bad answer); the next checkpoint retries.",
	}, []string{"witness"}),
}

// RegisterMetrics registers the checkpoint metrics with a registry;
// registering them again (another configuration) is not an error.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metricsreg.Register(reg, metrics.signed, metrics.dirFailures, metrics.conflicts, metrics.size, metrics.cosigned, metrics.witnessFailures)
}
