package quota

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// now is the clock of every test: 2026-06-01T12:00:00Z, a Monday.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const t0 = 1780315200.0 // now in epoch seconds

// secret is in every value that must never come back out.
const secret = "sk-SECRET-do-not-echo"

// after is now + d in epoch seconds.
func after(d time.Duration) float64 { return t0 + d.Seconds() }

// at is the clock d after now.
func at(d time.Duration) time.Time { return now.Add(d) }

// header builds an http.Header the way a response carries it (canonical names).
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

type opt func(*Window)

func rem(x float64) opt   { return func(w *Window) { w.Remaining = x } }
func lim(x float64) opt   { return func(w *Window) { w.Limit = x } }
func util(x float64) opt  { return func(w *Window) { w.Utilization = x } }
func reset(x float64) opt { return func(w *Window) { w.ResetAt = x } }
func model(m string) opt  { return func(w *Window) { w.Model = m } }
func seen(x float64) opt  { return func(w *Window) { w.SeenAt = x } }
func exhausted() opt      { return func(w *Window) { w.Exhausted = true } }
func win(key string, opts ...opt) Window {
	w := Window{Key: key, Remaining: Unknown, Limit: Unknown, Utilization: Unknown, SeenAt: t0}
	for _, o := range opts {
		o(&w)
	}
	return w
}

// stateOf is a State that has taken in the given windows.
func stateOf(ws ...Window) *State {
	var s State
	s.Apply(Observation{Windows: ws})
	return &s
}

// assertWindows compares windows field by field, times to the microsecond
// (a reset computed from "16m17.764s" and one written as a sum of seconds
// may differ in the last bit).
func assertWindows(t *testing.T, want, got []Window) {
	t.Helper()
	require.Len(t, got, len(want), "windows: %+v", got)
	for i := range want {
		w, g := want[i], got[i]
		assert.Equal(t, w.Key, g.Key, "window %d key", i)
		assert.Equal(t, w.Model, g.Model, "window %s model", w.Key)
		assert.InDelta(t, w.Remaining, g.Remaining, 1e-9, "window %s remaining", w.Key)
		assert.InDelta(t, w.Limit, g.Limit, 1e-9, "window %s limit", w.Key)
		assert.InDelta(t, w.Utilization, g.Utilization, 1e-9, "window %s utilization", w.Key)
		assert.Equal(t, w.Exhausted, g.Exhausted, "window %s exhausted", w.Key)
		assert.InDelta(t, w.ResetAt, g.ResetAt, 1e-6, "window %s reset_at", w.Key)
		assert.InDelta(t, w.SeenAt, g.SeenAt, 1e-6, "window %s seen_at", w.Key)
	}
}
