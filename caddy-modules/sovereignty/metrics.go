package sovereignty

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovgate/sovgate/internal/metricsreg"
)

// The metrics are created once per process and registered with each
// configuration's registry, as Caddy's own modules do.

var policyMetrics = struct {
	reloads   *prometheus.CounterVec
	failing   prometheus.Gauge
	activated prometheus.Gauge
}{
	reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "reloads_total",
		Help: "Policy reload attempts by result: activated, unchanged, refused (does not compile or its tests fail), error (source unreadable).",
	}, []string{"result"}),
	failing: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "reload_failing",
		Help: "1 while the policy source holds a revision that was refused (the last good revision serves); 0 otherwise.",
	}),
	activated: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "last_activation_timestamp_seconds",
		Help: "When the policy revision in service was activated (Unix time).",
	}),
}

// dataAge reports the age of each dataset of the configuration in service
// at the time of the scrape: an alert on it catches a `geo update` that
// stopped running.
type dataAge struct{}

var dataAgeDesc = prometheus.NewDesc("sovgate_data_age_seconds",
	"Age of each dataset the classifier uses (country, asn, registration, provider_ranges), from the date of its data; source is embedded, mmdb or iploc.",
	[]string{"dataset", "source"}, nil)

func (dataAge) Describe(ch chan<- *prometheus.Desc) { ch <- dataAgeDesc }

func (dataAge) Collect(ch chan<- prometheus.Metric) {
	a := Current()
	if a == nil || a.parts == nil {
		return
	}
	now := time.Now()
	for _, d := range a.parts.Classifier.Info().Datasets(now) {
		ch <- prometheus.MustNewConstMetric(dataAgeDesc, prometheus.GaugeValue, now.Sub(d.Built).Seconds(), d.Name, d.Source)
	}
}

func registerMetrics(reg prometheus.Registerer) error {
	return metricsreg.Register(reg, policyMetrics.reloads, policyMetrics.failing, policyMetrics.activated, dataAge{})
}
