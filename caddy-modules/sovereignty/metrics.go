package sovereignty

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovgate/sovgate/audit"
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

// decisionCounts reports the pipeline's counters at the time of a scrape
// (the request path only adds to atomics). A denial is counted by its
// class, so that a dashboard never adds a failed login to the transfers
// outside the EU: class="sovereignty" are violations of the policy,
// class="operational" refusals for the gateway's own reasons. The counters
// start again at zero when a new configuration is loaded, as Prometheus
// counters may.
type decisionCounts struct{}

var (
	decisionsDesc = prometheus.NewDesc("sovgate_decisions_total",
		"Decisions by verdict (allow, deny) and, for a denial, class: sovereignty (a violation of the policy) or operational (a refusal for the gateway's own reasons: identity, malformed request, limits, guards, failures); class is none for an allowed request.",
		[]string{"verdict", "class"}, nil)
	blockedDesc = prometheus.NewDesc("sovgate_decisions_blocked_total",
		"Decisions whose request was blocked (not forwarded), violations and refusals together.", nil, nil)
	cacheHitsDesc = prometheus.NewDesc("sovgate_decision_cache_hits_total",
		"Decisions reused from the decision cache.", nil, nil)
	policyErrorsDesc = prometheus.NewDesc("sovgate_policy_errors_total",
		"Evaluations the policy could not complete (POLICY_ERROR).", nil, nil)
)

func (decisionCounts) Describe(ch chan<- *prometheus.Desc) {
	ch <- decisionsDesc
	ch <- blockedDesc
	ch <- cacheHitsDesc
	ch <- policyErrorsDesc
}

func (decisionCounts) Collect(ch chan<- prometheus.Metric) {
	a := Current()
	if a == nil || a.parts == nil {
		return
	}
	st := a.parts.Pipeline.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(decisionsDesc, st.Allowed.Load(), string(audit.Allow), "none")
	counter(decisionsDesc, st.Violations.Load(), string(audit.Deny), string(audit.Sovereignty))
	counter(decisionsDesc, st.Refusals.Load(), string(audit.Deny), string(audit.Operational))
	counter(blockedDesc, st.Blocked.Load())
	counter(cacheHitsDesc, st.CacheHits.Load())
	counter(policyErrorsDesc, st.PolicyError.Load())
}

func registerMetrics(reg prometheus.Registerer) error {
	return metricsreg.Register(reg, policyMetrics.reloads, policyMetrics.failing, policyMetrics.activated, dataAge{}, decisionCounts{})
}
