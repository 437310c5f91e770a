package socketapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/credpool/credpool/pool"
)

// metrics lives in a private registry so that two servers (tests, or a
// program embedding the daemon) never collide on the global one. Labels are
// provider names, status codes, statuses, mux patterns and bounded model
// names (metrics_labels.go): never a token, a label or a raw path.
type metrics struct {
	reg        *prometheus.Registry
	selections *prometheus.CounterVec
	reports    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	// modelCooldowns counts reports that benched a credential for one
	// model; models bounds their label.
	modelCooldowns *prometheus.CounterVec
	models         *modelLabels
}

func newMetrics(b Backend, extra []prometheus.Collector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		selections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credpool_selections_total",
			Help: "Selections answered, by provider and result (ok: a credential was handed out; none: 503).",
		}, []string{"provider", "result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credpool_reports_total",
			Help: "Reports accepted, by provider and the HTTP status code the provider answered.",
		}, []string{"provider", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "credpool_request_duration_seconds",
			Help:    "Time to answer an API request, by route (the mux pattern). Event streams count until they end.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1, 5, 30},
		}, []string{"route"}),
		modelCooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credpool_model_cooldowns_total",
			Help: "Reports that benched a credential for one model (an Anthropic 429 with a model, model_entitlement), by provider and model.",
		}, []string{"provider", "model"}),
		models: &modelLabels{},
	}
	m.reg.MustRegister(m.selections, m.reports, m.duration, m.modelCooldowns,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&backendCollector{b: b}, &modelCollector{b: b, labels: m.models})
	m.reg.MustRegister(extra...)
	return m
}

func (m *metrics) selection(provider, result string) {
	m.selections.WithLabelValues(provider, result).Inc()
}

func (m *metrics) report(provider string, code int) {
	m.reports.WithLabelValues(provider, strconv.Itoa(code)).Inc()
}

// instrument times a route under its pattern, known at registration, so the
// label never carries a raw path.
func (m *metrics) instrument(pattern string, h http.HandlerFunc) http.Handler {
	obs := m.duration.WithLabelValues(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		obs.Observe(time.Since(start).Seconds())
	})
}

func (m *metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

var (
	descTransitions = prometheus.NewDesc("credpool_transitions_total",
		"Changes of an entry's status, by new status (ok, exhausted, dead).", []string{"status"}, nil)
	descReloads = prometheus.NewDesc("credpool_reloads_total",
		"Times auth.json was read again after a change.", nil, nil)
	descReloadErrors = prometheus.NewDesc("credpool_reload_errors_total",
		"Reads of auth.json that failed (unparseable or half-written file).", nil, nil)
	descPrunes = prometheus.NewDesc("credpool_prunes_total",
		"Manual DEAD entries removed after the prune TTL.", nil, nil)
	descRefreshes = prometheus.NewDesc("credpool_refreshes_total",
		"OAuth refreshes by provider and outcome (refreshed, adopted: a peer had rotated, dead, rate_limited, failed, lock_busy).",
		[]string{"provider", "outcome"}, nil)
	descDropped = prometheus.NewDesc("credpool_events_dropped_total",
		"Events not delivered to a follower that fell too far behind.", nil, nil)
	descWriteErrors = prometheus.NewDesc("credpool_write_errors_total",
		"Writes of auth.json that failed (lock busy past the answer timeout, permission, disk); they are retried.", nil, nil)
	descEntries = prometheus.NewDesc("credpool_entries",
		"Entries now in the pool, by provider and status.", []string{"provider", "status"}, nil)
)

// backendCollector reads the daemon's counters and pools at scrape time, so
// the daemon needs no Prometheus code of its own.
type backendCollector struct{ b Backend }

func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTransitions, descRefreshes, descReloads, descReloadErrors, descPrunes, descDropped, descWriteErrors, descEntries} {
		ch <- d
	}
}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	for _, status := range []string{string(pool.StatusOK), string(pool.StatusExhausted), string(pool.StatusDead)} {
		ch <- prometheus.MustNewConstMetric(descTransitions, prometheus.CounterValue, float64(st.Transitions[status]), status)
	}
	for k, n := range st.Refreshes {
		ch <- prometheus.MustNewConstMetric(descRefreshes, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(descReloadErrors, prometheus.CounterValue, float64(st.ReloadErrors))
	ch <- prometheus.MustNewConstMetric(descPrunes, prometheus.CounterValue, float64(st.Prunes))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.DroppedEvents))
	ch <- prometheus.MustNewConstMetric(descWriteErrors, prometheus.CounterValue, float64(st.WriteErrors))
	for _, p := range c.b.Pools() {
		counts := map[pool.Status]int{pool.StatusOK: 0, pool.StatusExhausted: 0, pool.StatusDead: 0}
		for _, e := range p.Entries {
			s := e.Status
			if s == "" {
				s = pool.StatusOK
			}
			if _, known := counts[s]; known {
				counts[s]++
			}
		}
		for s, n := range counts {
			ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(n), p.Provider, string(s))
		}
	}
}

var (
	descModelBenched = prometheus.NewDesc("credpool_model_benched",
		"Entries now benched for one model (their status stays ok for the others), by provider and model.",
		[]string{"provider", "model"}, nil)
	descOutOfBudget = prometheus.NewDesc("credpool_entries_out_of_budget",
		"Entries the provider's rate-limit headers say have no budget left, skipped until the window resets, by provider.",
		[]string{"provider"}, nil)
)

// modelCollector reads the pools at scrape time.
type modelCollector struct {
	b      Backend
	labels *modelLabels
}

func (c *modelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descModelBenched
	ch <- descOutOfBudget
}

func (c *modelCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ provider, model string }
	for _, p := range c.b.Pools() {
		benched := map[key]int{}
		out := 0
		for _, e := range p.Entries {
			for m := range e.ModelCooldowns {
				benched[key{p.Provider, c.labels.label(m)}]++
			}
			if e.QuotaUntil > 0 {
				out++
			}
		}
		for k, n := range benched {
			ch <- prometheus.MustNewConstMetric(descModelBenched, prometheus.GaugeValue, float64(n), k.provider, k.model)
		}
		ch <- prometheus.MustNewConstMetric(descOutOfBudget, prometheus.GaugeValue, float64(out), p.Provider)
	}
}
