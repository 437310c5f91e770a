package socketapi

import (
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/redact"
)

// Per-model metrics. A model name comes from a report (or another writer's
// auth.json), not from credpool, so its label is bounded: cut to
// maxModelLabel bytes, a name that looks like a token is never a label, and
// past maxModelLabels distinct names every new one counts as otherModel.
const (
	maxModelLabel  = 64
	maxModelLabels = 100
	otherModel     = "_other"
	redactedModel  = "_redacted"
)

// modelLabels hands out the bounded model label of a name; the first
// maxModelLabels names seen keep theirs for the life of the server.
type modelLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *modelLabels) label(model string) string {
	if len(model) > maxModelLabel {
		cut := maxModelLabel
		for cut > 0 && !utf8.RuneStart(model[cut]) {
			cut--
		}
		model = model[:cut]
	}
	if redact.Text(model) != model {
		return redactedModel
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[model] {
		return model
	}
	if len(m.seen) >= maxModelLabels {
		return otherModel
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.seen[model] = true
	return model
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

// modelCooldown counts a report that benched a credential for one model.
func (m *metrics) modelCooldown(provider string, marked *pool.Marked) {
	if marked != nil && marked.Model != "" {
		m.modelCooldowns.WithLabelValues(provider, m.models.label(marked.Model)).Inc()
	}
}
