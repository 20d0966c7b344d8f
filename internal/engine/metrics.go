package engine

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskcenter/internal/store"
)

// Metrics are the engine's Prometheus instruments. A nil *Metrics records nothing.
type Metrics struct {
	leaseSeconds prometheus.Histogram
	leased       prometheus.Counter
	completed    prometheus.Counter
	failed       prometheus.Counter
	expired      prometheus.Counter

	// Per maintenance service (label "service").
	serviceRuns    *prometheus.CounterVec
	serviceErrors  *prometheus.CounterVec
	serviceSeconds *prometheus.HistogramVec
}

// NewMetrics registers the engine's instruments with reg, and a collector that reports the queue depth
// by capability from s at scrape time.
func NewMetrics(reg prometheus.Registerer, s store.Store) *Metrics {
	m := &Metrics{
		leaseSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "taskcenter_lease_duration_seconds", Help: "Time one lease query takes.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		leased:    prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_units_leased_total", Help: "Units handed to workers."}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_units_completed_total", Help: "Units reported done."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_units_failed_total", Help: "Failed unit attempts."}),
		expired:   prometheus.NewCounter(prometheus.CounterOpts{Name: "taskcenter_leases_expired_total", Help: "Leases whose worker stopped heartbeating."}),

		serviceRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskcenter_maintenance_runs_total",
			Help: "Runs of a maintenance service on this replica."}, []string{"service"}),
		serviceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskcenter_maintenance_errors_total",
			Help: "Runs of a maintenance service that failed."}, []string{"service"}),
		serviceSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskcenter_maintenance_duration_seconds",
			Help: "Time one run of a maintenance service takes.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"service"}),
	}
	reg.MustRegister(m.leaseSeconds, m.leased, m.completed, m.failed, m.expired, m.serviceRuns, m.serviceErrors, m.serviceSeconds, &depthCollector{store: s, desc: prometheus.NewDesc(
		"taskcenter_queue_depth", "Units ready to run, by capability.", []string{"capability"}, nil)})
	return m
}

func (m *Metrics) observeLease(d time.Duration, n int) {
	if m == nil {
		return
	}
	if d > 0 {
		m.leaseSeconds.Observe(d.Seconds())
	}
	m.leased.Add(float64(n))
}

func (m *Metrics) observeCompletions(n int) {
	if m != nil {
		m.completed.Add(float64(n))
	}
}

func (m *Metrics) observeFailure() {
	if m != nil {
		m.failed.Inc()
	}
}

func (m *Metrics) observeExpired(n int) {
	if m != nil {
		m.expired.Add(float64(n))
	}
}

func (m *Metrics) observeService(name string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.serviceRuns.WithLabelValues(name).Inc()
	m.serviceSeconds.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		m.serviceErrors.WithLabelValues(name).Inc()
	}
}

type depthCollector struct {
	store store.Store
	desc  *prometheus.Desc
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, err := c.store.QueueDepth(ctx, time.Now().UTC())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for capability, n := range depth {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), capability)
	}
}
