package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own collectors, registered by whoever serves
// them (the daemon's registry). Labels are pool names the backend knows,
// status codes and attempt counts: never a token, a path or a model.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credpool_gateway_requests_total",
			Help: "Requests the gateway answered, by pool (\"-\": refused before routing, \"unknown\": no such pool), " +
				"the status the client got (499: it left first) and the upstream attempts made.",
		}, []string{"pool", "status", "attempts"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "credpool_gateway_upstream_latency_seconds",
			Help:    "Time from sending a request upstream to its response headers (or failure), per attempt, by pool.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"pool"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency}
}

func (m *metrics) request(pool string, status, attempts int) {
	m.requests.WithLabelValues(pool, strconv.Itoa(status), strconv.Itoa(attempts)).Inc()
}

func (m *metrics) upstream(pool string, d time.Duration) {
	m.latency.WithLabelValues(pool).Observe(d.Seconds())
}
