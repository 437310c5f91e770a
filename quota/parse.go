package quota

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Observation is what one answer's headers say about a credential's budgets.
type Observation struct {
	// Windows are the budgets the answer spoke of, sorted by Key, then Model.
	Windows []Window
	// Ignored names (lower-case, sorted, never a value) the known headers
	// whose value could not be trusted; the caller logs them at debug level.
	Ignored []string
}

// Parse reads the known rate-limit headers of one answer, received at now.
// Of a header given more than once the first value counts. Parse never
// fails: garbage is left out and named in Ignored.
func Parse(h http.Header, now time.Time) Observation {
	p := parser{now: epochOf(now)}
	for name, values := range h {
		kn, ok := classify(name)
		if !ok || len(values) == 0 {
			continue
		}
		if len(values[0]) > MaxValueBytes || !p.take(kn, values[0]) {
			p.ignored = append(p.ignored, kn.lowerName())
		}
	}
	return p.finish()
}

// ParseMap is Parse of a report's name-to-value map (HeaderFrom's input),
// without building an http.Header on the way: a report's headers are read
// on every answer an agent reports. Of a known header given under names
// that differ only in case (Check refuses those) the name that sorts first
// wins, as in HeaderFrom.
func ParseMap(m map[string]string, now time.Time) Observation {
	type kv struct {
		kn                 known
		lower, name, value string
	}
	var buf [MaxHeaders]kv
	kvs := buf[:0]
	for name, v := range m {
		if kn, ok := classify(name); ok {
			kvs = append(kvs, kv{kn, kn.lowerName(), name, v})
		}
	}
	slices.SortFunc(kvs, func(a, b kv) int {
		if c := cmp.Compare(a.lower, b.lower); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	p := parser{now: epochOf(now)}
	for i, x := range kvs {
		if i > 0 && kvs[i-1].lower == x.lower {
			continue // a second spelling of a header already read
		}
		if len(x.value) > MaxValueBytes || !p.take(x.kn, x.value) {
			p.ignored = append(p.ignored, x.lower)
		}
	}
	return p.finish()
}

// WithoutRetryAfter is o without the answer's Retry-After window, for an
// answer whose "not now" the caller records otherwise: a 429 that refused
// one model only benches the credential for that model until then, where
// the window would bench it for every model.
func (o Observation) WithoutRetryAfter() Observation {
	o.Windows = slices.DeleteFunc(slices.Clone(o.Windows), func(w Window) bool { return w.Key == keyRetryAfter })
	return o
}

// slot gathers the headers of one window before it becomes a Window.
type slot struct {
	key, model             string
	codex                  bool
	remaining, limit, util float64
	reset, fallbackReset   float64 // fallbackReset counts when reset is not sent
	status                 status
}

type parser struct {
	now     float64
	slots   []slot
	names   []known // kLimitName headers, model in known.model
	claim   string  // the unified window a representative claim names
	ignored []string
}

// take reads one header's value into its window; false means garbage.
func (p *parser) take(kn known, v string) bool {
	switch kn.kind {
	case kLimitName:
		m, ok := modelName(v)
		kn.model = m
		p.names = append(p.names, kn)
		return ok
	case kClaim:
		w, ok := claimWindow(v)
		p.claim = w
		return ok
	}
	s := p.slot(kn)
	if s == nil {
		return true // more windows than a report may hold: dropped, not garbage
	}
	if kn.kind == kStatus {
		st, ok := parseStatus(v)
		if ok {
			s.status = st
		}
		return ok
	}
	x, ok := p.read(kn.kind, v)
	if ok {
		*s.field(kn.kind) = x
	}
	return ok
}

// read reads a numeric value of kind k.
func (p *parser) read(k kind, v string) (float64, bool) {
	switch k {
	case kLimit, kRemaining:
		return number(v)
	case kUtilization:
		return fraction(v)
	case kUsedPercent:
		return percent(v)
	case kResetIn:
		return goDuration(v, p.now)
	case kResetRFC3339:
		return rfc3339(v)
	case kResetEpoch:
		return epochSeconds(v)
	case kRetryAfterMs:
		return delay(v, p.now, 1e-3)
	case kResetAfter:
		return delay(v, p.now, 1)
	case kRetryAfter:
		return retryAfter(v, p.now)
	}
	return 0, false
}

// field is where a value of kind k goes. Codex's reset-after-seconds and
// Retry-After count only when reset-at, or retry-after-ms (what the OpenAI
// SDKs prefer), is not sent.
func (s *slot) field(k kind) *float64 {
	switch k {
	case kLimit:
		return &s.limit
	case kRemaining:
		return &s.remaining
	case kUtilization, kUsedPercent:
		return &s.util
	case kResetAfter, kRetryAfter:
		return &s.fallbackReset
	}
	return &s.reset
}

// slot finds or adds the window of kn; nil when a report names more windows
// than MaxHeaders, which no provider does.
func (p *parser) slot(kn known) *slot {
	for i := range p.slots {
		if p.slots[i].key == kn.key {
			return &p.slots[i]
		}
	}
	if len(p.slots) == MaxHeaders {
		return nil
	}
	p.slots = append(p.slots, slot{
		key: kn.key, model: kn.model, codex: kn.codex,
		remaining: Unknown, limit: Unknown, util: Unknown,
	})
	return &p.slots[len(p.slots)-1]
}

func (p *parser) finish() Observation {
	p.scopeCodex()
	p.unifiedReset()
	var obs Observation
	for i := range p.slots {
		s := &p.slots[i]
		w := Window{
			Key: s.key, Model: s.model,
			Remaining: s.remaining, Limit: s.limit, Utilization: s.util,
			Exhausted: s.status == statusRejected,
			ResetAt:   s.reset,
			SeenAt:    p.now,
		}
		if w.ResetAt == 0 {
			w.ResetAt = s.fallbackReset
		}
		if s.key == keyRetryAfter {
			// A Retry-After is a "no" until then; without a time it says nothing.
			w.Exhausted = w.ResetAt > 0
		}
		// A window of nothing but a reset, or of garbage alone, says nothing
		// about the budget and would only displace a reading that does.
		if w.Remaining == Unknown && w.Limit == Unknown && w.Utilization == Unknown &&
			s.status == statusNone && !w.Exhausted {
			continue
		}
		obs.Windows = append(obs.Windows, w)
	}
	slices.SortFunc(obs.Windows, compareWindows)
	if len(p.ignored) > 0 {
		slices.Sort(p.ignored)
		obs.Ignored = slices.Compact(p.ignored)
	}
	return obs
}

// scopeCodex gives each window of a Codex limit family the model that
// x-<limit>-limit-name names. A family without a name stays unscoped: it
// then counts for every model, which errs on the side of resting.
func (p *parser) scopeCodex() {
	for _, n := range p.names {
		if n.model == "" {
			continue
		}
		for i := range p.slots {
			s := &p.slots[i]
			if id, _, _ := strings.Cut(s.key, "/"); s.codex && id == n.key {
				s.model = n.model
			}
		}
	}
}

// unifiedReset finds when a rejected unified verdict ends when the answer
// did not say (no anthropic-ratelimit-unified-reset): the earliest reset of
// a window that is itself rejected, else the reset of the window the
// representative claim names, else unknown (then NoResetHold applies).
func (p *parser) unifiedReset() {
	var verdict *slot
	for i := range p.slots {
		if p.slots[i].key == keyUnified {
			verdict = &p.slots[i]
		}
	}
	if verdict == nil || verdict.status != statusRejected || verdict.reset > 0 {
		return
	}
	for i := range p.slots {
		s := &p.slots[i]
		if s != verdict && strings.HasPrefix(s.key, "anthropic-unified/") && s.status == statusRejected &&
			s.reset > 0 && (verdict.reset == 0 || s.reset < verdict.reset) {
			verdict.reset = s.reset
		}
	}
	if verdict.reset > 0 || p.claim == "" {
		return
	}
	for i := range p.slots {
		if p.slots[i].key == "anthropic-unified/"+p.claim {
			verdict.reset = p.slots[i].reset
		}
	}
}

func compareWindows(a, b Window) int {
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return cmp.Compare(a.Model, b.Model)
}
