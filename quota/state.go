package quota

import (
	"math"
	"slices"
	"strings"
	"time"
)

// State is what is known of one credential's budgets: the last observation
// of each window, sorted by Key, then Model. The zero State is empty and
// ready. A State is not safe for concurrent use; its owner (the pool, under
// its lock) serialises calls.
type State struct {
	windows []Window
	// inFlight holds when each request handed out (Spend) and not yet
	// answered (Answered) was handed out, oldest first: the provider's
	// next figure does not count the ones still on their way.
	inFlight []float64
}

// In-flight bookkeeping: a request not answered within inFlightHold is
// taken to have been answered without a report, and at most maxInFlight
// are remembered.
const (
	inFlightHold = 60.0 // seconds
	maxInFlight  = 256
)

// Apply takes in one answer's observation. A window replaces the kept one of
// the same Key and Model unless that one was seen later (answers reported
// out of order); windows the answer does not mention stay until their reset
// passes. Windows that fail validation (only a hand-built Observation has
// them) are dropped. Past MaxWindows the window seen longest ago goes.
func (s *State) Apply(obs Observation) {
	for _, w := range obs.Windows {
		if w.validate() != nil {
			continue
		}
		i, found := slices.BinarySearchFunc(s.windows, w, compareWindows)
		switch {
		case found && s.windows[i].SeenAt > w.SeenAt:
		case found:
			s.windows[i] = s.unanswered(w)
		default:
			s.windows = slices.Insert(s.windows, i, s.unanswered(w))
		}
	}
	for len(s.windows) > MaxWindows {
		oldest := 0
		for i := range s.windows {
			if s.windows[i].SeenAt < s.windows[oldest].SeenAt {
				oldest = i
			}
		}
		s.windows = slices.Delete(s.windows, oldest, oldest+1)
	}
}

// Blocked reports whether the credential is out of budget for a selection
// of model at now, and until when (epoch seconds; the latest end among the
// windows that block). A window blocks while it lasts (until its reset, or
// NoResetHold after it was seen when it has none) if the provider said no
// (unified status rejected, Retry-After), its remaining is 0, or its
// utilization (sent, or 1 - remaining/limit) is at or above threshold.
// A threshold outside (0, 1] means DefaultThreshold. model "" (not known)
// counts every window, model-scoped ones included. It does not allocate.
func (s *State) Blocked(now time.Time, threshold float64, model string) (until float64, blocked bool) {
	t := epochOf(now)
	if !(threshold > 0 && threshold <= 1) {
		threshold = DefaultThreshold
	}
	for i := range s.windows {
		w := &s.windows[i]
		if end := w.end(); end > t && appliesTo(w.Model, model) && w.out(threshold) {
			until, blocked = math.Max(until, end), true
		}
	}
	return until, blocked
}

// Headroom is the fraction of budget left on the credential's tightest live
// window for a selection of model (remaining/limit, or 1 - utilization; 0 for
// a window that says no), and when that window ends. known is false when
// no live window tells. Of two windows equally tight the one that lasts
// longer counts: the credential is tight until then.
func (s *State) Headroom(now time.Time, model string) (fraction, resetAt float64, known bool) {
	i, fraction := s.tightest(epochOf(now), model)
	if i < 0 {
		return 0, 0, false
	}
	return fraction, s.windows[i].end(), true
}

// tightest is the index of the window Headroom ranks by, -1 if none, and
// the fraction left on it.
func (s *State) tightest(t float64, model string) (int, float64) {
	best, fraction, resetAt := -1, 0.0, 0.0
	for i := range s.windows {
		w := &s.windows[i]
		end := w.end()
		if end <= t || !appliesTo(w.Model, model) {
			continue
		}
		f, ok := w.left()
		if ok && (best < 0 || f < fraction || (f == fraction && end > resetAt)) {
			best, fraction, resetAt = i, f, end
		}
	}
	return best, fraction
}

// Reading is one live window as people and dashboards see it.
type Reading struct {
	Window
	// End is when the window stops counting: its reset, or NoResetHold
	// after it was seen when the provider gave none.
	End float64
	// Left is the fraction of budget left, 0..1; Unknown when the window
	// does not tell.
	Left float64
	// Blocks: the window keeps the credential out of rotation now (for
	// its model, or every model when it has none).
	Blocks bool
	// Tightest: the window Headroom ranks the credential by when the
	// model is not known.
	Tightest bool
}

// Readings are the live windows at now, sorted by Key, then Model, with
// what Blocked (at threshold) and Headroom (for an unknown model) make of
// each: the one place that says which window binds.
func (s *State) Readings(now time.Time, threshold float64) []Reading {
	t := epochOf(now)
	if !(threshold > 0 && threshold <= 1) {
		threshold = DefaultThreshold
	}
	tight, _ := s.tightest(t, "")
	var out []Reading
	for i := range s.windows {
		w := &s.windows[i]
		end := w.end()
		if end <= t {
			continue
		}
		r := Reading{Window: *w, End: end, Left: Unknown, Blocks: w.out(threshold), Tightest: i == tight}
		if f, ok := w.left(); ok {
			r.Left = f
		}
		out = append(out, r)
	}
	return out
}

// Spend counts one request handed out on the credential against each
// request budget it knows (a window of requests whose remaining the
// provider sent), until the provider's next answer says what is left. Agents
// that select at the same moment then see each other's calls instead of
// all taking the credential the last answer left with the most room. The
// request is also remembered as in flight until Answered. It allocates only
// while the list of requests in flight grows.
func (s *State) Spend(now time.Time) {
	t := epochOf(now)
	for i := range s.windows {
		w := &s.windows[i]
		if w.Remaining > 0 && w.end() > t && isRequests(w) {
			w.Remaining--
		}
	}
	s.expire(t)
	if len(s.inFlight) == maxInFlight {
		s.drop(1)
	}
	s.inFlight = append(s.inFlight, t)
}

// Answered says the provider answered a request handed out on the
// credential (the oldest one in flight: answers mostly come back in
// order). Call it before Apply of that answer's observation, so that the
// requests still in flight are counted against the figure it brings. It
// does not allocate.
func (s *State) Answered(now time.Time) {
	s.expire(epochOf(now))
	if len(s.inFlight) > 0 {
		s.drop(1)
	}
}

// unanswered is w less the requests handed out but not yet answered: the
// provider counted none of them when it sent w.
func (s *State) unanswered(w Window) Window {
	if n := float64(len(s.inFlight)); n > 0 && isRequests(&w) && w.Remaining > 0 {
		w.Remaining = math.Max(0, w.Remaining-n)
	}
	return w
}

func (s *State) expire(t float64) {
	i := 0
	for i < len(s.inFlight) && t-s.inFlight[i] > inFlightHold {
		i++
	}
	s.drop(i)
}

// drop forgets the n oldest requests in flight, in place: the slice keeps
// its room, so the steady state does not allocate.
func (s *State) drop(n int) {
	if n > 0 {
		s.inFlight = s.inFlight[:copy(s.inFlight, s.inFlight[n:])]
	}
}

func isRequests(w *Window) bool { return strings.HasSuffix(w.Key, "/requests") }

// Prune drops the windows that ended by now. It does not allocate.
func (s *State) Prune(now time.Time) {
	t := epochOf(now)
	s.windows = slices.DeleteFunc(s.windows, func(w Window) bool { return w.end() <= t })
}

// Windows is a copy of the kept windows, sorted by Key, then Model.
func (s *State) Windows() []Window {
	return slices.Clone(s.windows)
}

// Room is one credential's Headroom, as the headroom strategy ranks it.
type Room struct {
	Fraction, ResetAt float64
	Known             bool
}

// Better reports whether a credential with room a is to be picked before
// one with room b: the most budget left first, ties to the one whose
// tightest window resets soonest. A credential no answer has spoken of yet
// counts as full (it is most likely unused) but loses a tie to one known
// to be full, whose reset is known.
func Better(a, b Room) bool {
	fa, ra := rank(a)
	fb, rb := rank(b)
	if fa != fb {
		return fa > fb
	}
	return ra < rb
}

func rank(r Room) (fraction, resetAt float64) {
	if !r.Known {
		return 1, math.Inf(1)
	}
	return r.Fraction, r.ResetAt
}
