package socketapi

import (
	"sync"
	"unicode/utf8"

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

// modelCooldown counts a report that benched a credential for one model.
func (m *metrics) modelCooldown(provider string, marked *pool.Marked) {
	if marked != nil && marked.Model != "" {
		m.modelCooldowns.WithLabelValues(provider, m.models.label(marked.Model)).Inc()
	}
}
