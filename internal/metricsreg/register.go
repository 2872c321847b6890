// Package metricsreg registers sovgate's Prometheus collectors. The
// collectors are created once per process, and each Caddy configuration
// registers them with its own registry, as Caddy's modules do; a collector
// a previous configuration registered already is not an error.
package metricsreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers every collector with reg, tolerating those it already
// holds.
func Register(reg prometheus.Registerer, collectors ...prometheus.Collector) error {
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				return err
			}
		}
	}
	return nil
}
