package quota

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlockedRejectedOn200(t *testing.T) {
	h := header(
		"anthropic-ratelimit-unified-status", "rejected",
		"anthropic-ratelimit-unified-reset", "1780322400", // +2h
		"anthropic-ratelimit-unified-5h-utilization", "0.5",
	)
	var s State
	s.Apply(Parse(h, now))
	until, blocked := s.Blocked(now, 0, "claude-sonnet-4-5")
	assert.True(t, blocked)
	assert.Equal(t, 1780322400.0, until)

	// The next answer says allowed: the newer verdict replaces the older.
	s.Apply(Parse(header("anthropic-ratelimit-unified-status", "allowed"), at(time.Minute)))
	_, blocked = s.Blocked(at(time.Minute), 0, "claude-sonnet-4-5")
	assert.False(t, blocked)
}

func TestApplyReplacesOnlyWithNewer(t *testing.T) {
	var s State
	s.Apply(Parse(header("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "30s"), now))
	_, blocked := s.Blocked(now, 0, "")
	require.True(t, blocked)

	// A late report of an older answer does not undo what a newer one said.
	s.Apply(Parse(header("x-ratelimit-remaining-tokens", "900", "x-ratelimit-limit-tokens", "1000"), at(-time.Second)))
	_, blocked = s.Blocked(now, 0, "")
	assert.True(t, blocked, "an older observation replaced a newer one")

	// A newer one does.
	s.Apply(Parse(header("x-ratelimit-remaining-tokens", "900", "x-ratelimit-limit-tokens", "1000"), at(time.Second)))
	_, blocked = s.Blocked(at(time.Second), 0, "")
	assert.False(t, blocked)
	assertWindows(t, []Window{win("openai/tokens", rem(900), lim(1000), seen(after(time.Second)))}, s.Windows())
}

func TestUnmentionedWindowsStayUntilTheirReset(t *testing.T) {
	var s State
	s.Apply(Parse(header("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "1m0s"), now))
	// An answer that speaks of requests only leaves the tokens window alone.
	s.Apply(Parse(header("x-ratelimit-remaining-requests", "99", "x-ratelimit-limit-requests", "100",
		"x-ratelimit-reset-requests", "1s"), at(time.Second)))
	until, blocked := s.Blocked(at(time.Second), 0, "")
	assert.True(t, blocked)
	assert.Equal(t, after(time.Minute), until)
	assert.Len(t, s.Windows(), 2)
}

func TestResetPassing(t *testing.T) {
	s := stateOf(win("openai/tokens", rem(0), lim(1000), reset(after(30*time.Second))))
	for _, c := range []struct {
		at      time.Duration
		blocked bool
	}{{0, true}, {29 * time.Second, true}, {30 * time.Second, false}, {time.Hour, false}} {
		_, blocked := s.Blocked(at(c.at), 0, "")
		assert.Equal(t, c.blocked, blocked, "at +%v", c.at)
	}
	_, _, known := s.Headroom(at(30*time.Second), "")
	assert.False(t, known, "a window whose reset passed still told the headroom")

	s.Prune(at(29 * time.Second))
	assert.Len(t, s.Windows(), 1)
	s.Prune(at(30 * time.Second))
	assert.Empty(t, s.Windows())
}

func TestNoResetBlocksOnlyForTheHold(t *testing.T) {
	s := stateOf(win("anthropic-unified/status", exhausted()), win("openai/requests", rem(0)))
	until, blocked := s.Blocked(now, 0, "")
	assert.True(t, blocked)
	assert.Equal(t, t0+NoResetHold.Seconds(), until)
	_, blocked = s.Blocked(at(NoResetHold), 0, "")
	assert.False(t, blocked)
	s.Prune(at(NoResetHold))
	assert.Empty(t, s.Windows())
}

func TestBlockedUntilTheLatestBlockingWindow(t *testing.T) {
	s := stateOf(
		win("codex/primary", util(1), reset(after(time.Hour))),
		win("codex/secondary", util(0.99), reset(after(48*time.Hour))),
		win("openai/requests", rem(5), lim(100), reset(after(72*time.Hour))), // not out
	)
	until, blocked := s.Blocked(now, 0, "")
	assert.True(t, blocked)
	assert.Equal(t, after(48*time.Hour), until)
}

func TestThresholdEdge(t *testing.T) {
	r := reset(after(time.Hour))
	for _, c := range []struct {
		name      string
		w         Window
		threshold float64
		blocked   bool
	}{
		{"0.98 exactly blocks at the default", win("a/x", util(0.98), r), 0, true},
		{"just under does not", win("a/x", util(0.979), r), 0, false},
		{"DefaultThreshold passed explicitly", win("a/x", util(0.98), r), DefaultThreshold, true},
		{"20 left of 1000 is 0.98 used", win("a/x", rem(20), lim(1000), r), 0, true},
		{"21 left of 1000 is not", win("a/x", rem(21), lim(1000), r), 0, false},
		{"remaining 0 without a limit", win("a/x", rem(0), r), 0, true},
		{"remaining above limit is 0 used", win("a/x", rem(2000), lim(1000), r), 0, false},
		{"limit 0 alone is not out", win("a/x", lim(0), r), 0, false},
		{"a threshold of the caller's own", win("a/x", util(0.98), r), 0.99, false},
		{"threshold 1 needs all used", win("a/x", util(1), r), 1, true},
		{"threshold 0.5", win("a/x", util(0.5), r), 0.5, true},
		// 1 - 34/100 is a hair under 0.66 in float64: "at" must still block.
		{"34 left of 100 at threshold 0.66", win("a/x", rem(34), lim(100), r), 0.66, true},
		{"35 left of 100 at threshold 0.66", win("a/x", rem(35), lim(100), r), 0.66, false},
		{"threshold NaN means the default", win("a/x", util(0.98), r), math.NaN(), true},
		{"threshold above 1 means the default", win("a/x", util(0.98), r), 2, true},
		{"threshold below 0 means the default", win("a/x", util(0.5), r), -1, false},
		{"utilization unknown, remaining unknown", win("a/x", r), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, blocked := stateOf(c.w).Blocked(now, c.threshold, "")
			assert.Equal(t, c.blocked, blocked)
		})
	}
	// Codex sends used-percent; 98 must land on the threshold, not under it.
	obs := Parse(header("x-codex-primary-used-percent", "98", "x-codex-primary-reset-at", "1780333200"), now)
	_, blocked := stateOf(obs.Windows...).Blocked(now, 0, "")
	assert.True(t, blocked)
}

func TestModelScoping(t *testing.T) {
	codex := Parse(header(
		"x-codex-primary-used-percent", "10",
		"x-codex-bengalfox-primary-used-percent", "100",
		"x-codex-bengalfox-primary-reset-at", "1780333200",
		"x-codex-bengalfox-limit-name", "GPT-5.3-Codex-Spark",
	), now)
	unified := Parse(header(
		"anthropic-ratelimit-unified-status", "allowed",
		"anthropic-ratelimit-unified-7d_sonnet-status", "rejected",
		"anthropic-ratelimit-unified-7d_sonnet-reset", "1780834800",
	), now)
	for _, c := range []struct {
		obs     Observation
		model   string
		blocked bool
	}{
		{codex, "gpt-5.3-codex-spark", true},
		{codex, "GPT-5.3-Codex-Spark", true},
		{codex, "gpt-5.3-codex", false},
		{codex, "gpt-5.3-codex-spark-high", true},
		{codex, "", true}, // not known: every window counts
		{unified, "claude-sonnet-4-5-20250929", true},
		{unified, "claude-3-5-sonnet-latest", true},
		{unified, "claude-opus-4-1", false},
		{unified, "claude-sonnets", false},
		{unified, "", true},
	} {
		_, blocked := stateOf(c.obs.Windows...).Blocked(now, 0, c.model)
		assert.Equal(t, c.blocked, blocked, "model %q, windows %+v", c.model, c.obs.Windows)
	}
}

func TestAppliesTo(t *testing.T) {
	for _, c := range []struct {
		family, model string
		want          bool
	}{
		{"", "anything", true},
		{"sonnet", "", true},
		{"sonnet", "sonnet", true},
		{"sonnet", "claude-sonnet-4", true},
		{"sonnet", "anthropic/claude-sonnet-4", true},
		{"sonnet", "Claude-SONNET", true},
		{"sonnet", "claude-sonnet", true},
		{"sonnet", "sonnetx", false},
		{"sonnet", "xsonnet-4", false},
		{"sonnet", "son", false},
		{"gpt-5.3-codex-spark", "gpt-5.3-codex-spark", true},
		{"gpt-5.3-codex-spark", "gpt-5.3-codex", false},
		{"gpt-5.3-codex-spark", "openai/gpt-5.3-codex-spark:high", true},
	} {
		assert.Equal(t, c.want, appliesTo(c.family, c.model), "%q in %q", c.family, c.model)
	}
}

func TestHeadroom(t *testing.T) {
	s := stateOf(
		win("openai/requests", rem(40), lim(100), reset(after(time.Minute))),
		win("openai/tokens", rem(9000), lim(10000), reset(after(time.Second))),
		win("anthropic-unified/7d_opus", model("opus"), util(0.9), reset(after(time.Hour))),
		win("http/retry-after", exhausted(), reset(after(-time.Second))), // over
		win("anthropic-unified/status", reset(after(time.Hour))),         // no fraction
	)
	f, r, known := s.Headroom(now, "gpt-4.1")
	require.True(t, known)
	assert.InDelta(t, 0.4, f, 1e-12)
	assert.Equal(t, after(time.Minute), r)

	f, r, known = s.Headroom(now, "claude-opus-4-1")
	require.True(t, known)
	assert.InDelta(t, 0.1, f, 1e-12)
	assert.Equal(t, after(time.Hour), r)

	// Equally tight: the one that lasts longer is when the credential frees up.
	s = stateOf(win("a/x", util(0.5), reset(after(time.Minute))), win("b/x", util(0.5), reset(after(time.Hour))))
	_, r, _ = s.Headroom(now, "")
	assert.Equal(t, after(time.Hour), r)

	// A window that says no has no room.
	f, _, known = stateOf(win("http/retry-after", exhausted(), reset(after(time.Minute))), win("a/x", util(0.1))).Headroom(now, "")
	assert.True(t, known)
	assert.Equal(t, 0.0, f)

	_, _, known = (&State{}).Headroom(now, "")
	assert.False(t, known)
}

func TestBetterOrdersTheHeadroomStrategy(t *testing.T) {
	type cred struct {
		name string
		room Room
	}
	creds := []cred{
		{"tight", Room{Fraction: 0.1, ResetAt: after(time.Minute), Known: true}},
		{"unknown", Room{}},
		{"half-late", Room{Fraction: 0.5, ResetAt: after(time.Hour), Known: true}},
		{"full-known", Room{Fraction: 1, ResetAt: after(time.Hour), Known: true}},
		{"half-soon", Room{Fraction: 0.5, ResetAt: after(time.Minute), Known: true}},
		{"empty", Room{Fraction: 0, ResetAt: after(time.Second), Known: true}},
	}
	slices.SortStableFunc(creds, func(a, b cred) int {
		switch {
		case Better(a.room, b.room):
			return -1
		case Better(b.room, a.room):
			return 1
		}
		return 0
	})
	var order []string
	for _, c := range creds {
		order = append(order, c.name)
	}
	assert.Equal(t, []string{"full-known", "unknown", "half-soon", "half-late", "tight", "empty"}, order)
	assert.False(t, Better(Room{}, Room{}), "two unknowns tie")
}

func TestMaxWindowsDropsTheOldest(t *testing.T) {
	var s State
	for i := range MaxWindows + 8 {
		s.Apply(Observation{Windows: []Window{win(fmt.Sprintf("k/%02d", i), util(0.1), seen(t0+float64(i)))}})
	}
	ws := s.Windows()
	require.Len(t, ws, MaxWindows)
	assert.Equal(t, "k/08", ws[0].Key, "the 8 seen first went")
	assert.Equal(t, fmt.Sprintf("k/%02d", MaxWindows+7), ws[len(ws)-1].Key)
}

func TestApplyDropsInvalidWindows(t *testing.T) {
	var s State
	s.Apply(Observation{Windows: []Window{
		win("", rem(0)),
		win("a/x", rem(math.Inf(1))),
		win("a/x", util(1.5)),
		win("a/x", rem(0), reset(math.NaN())),
		win("a/x", rem(0), reset(MaxResetAt+1)),
		win("a/x", rem(0), seen(0)),
		win("a/x\n", rem(0)),
		win("a/x", rem(-2)),
	}})
	assert.Empty(t, s.Windows())
}

func TestWindowsIsACopy(t *testing.T) {
	s := stateOf(win("a/x", rem(0), reset(after(time.Minute))))
	s.Windows()[0].Remaining = 100
	_, blocked := s.Blocked(now, 0, "")
	assert.True(t, blocked)
}

func TestQueriesDoNotAllocate(t *testing.T) {
	s := fiveWindows()
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Blocked(now, 0, "claude-sonnet-4-5") }), "Blocked")
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Headroom(now, "claude-sonnet-4-5") }), "Headroom")
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Prune(now) }), "Prune")
}

// fiveWindows is a subscription credential mid-week: the shape Blocked and
// Headroom see on a busy pool.
func fiveWindows() *State {
	return stateOf(
		win("anthropic-unified/5h", util(0.42), reset(after(3*time.Hour))),
		win("anthropic-unified/7d", util(0.61), reset(after(96*time.Hour))),
		win("anthropic-unified/7d_opus", model("opus"), util(0.2), reset(after(96*time.Hour))),
		win("anthropic-unified/7d_sonnet", model("sonnet"), util(0.7), reset(after(96*time.Hour))),
		win("anthropic-unified/status", reset(after(3*time.Hour))),
	)
}

func TestReadings(t *testing.T) {
	s := stateOf(
		win("openai/requests", rem(12), lim(100), reset(after(4*time.Minute))),
		win("openai/tokens", rem(0), lim(10000), reset(after(time.Minute))),
		win("anthropic-unified/7d_opus", model("opus"), util(0.5), reset(after(time.Hour))),
		win("anthropic-unified/status", reset(after(time.Hour))),         // no fraction: told, never tightest
		win("http/retry-after", exhausted(), reset(after(-time.Second))), // over: not shown
		win("codex/primary", util(0.99)),                                 // no reset: held 60 s from seen
	)
	got := s.Readings(now, 0)
	keys := make([]string, len(got))
	for i, r := range got {
		keys[i] = r.Key
	}
	assert.Equal(t, []string{"anthropic-unified/7d_opus", "anthropic-unified/status", "codex/primary", "openai/requests", "openai/tokens"}, keys)
	byKey := map[string]Reading{}
	for _, r := range got {
		byKey[r.Key] = r
	}
	assert.Equal(t, after(NoResetHold), byKey["codex/primary"].End)
	assert.True(t, byKey["codex/primary"].Blocks, "0.99 is past the default threshold")
	assert.InDelta(t, 0.12, byKey["openai/requests"].Left, 1e-12)
	assert.False(t, byKey["openai/requests"].Blocks)
	assert.Equal(t, Unknown, byKey["anthropic-unified/status"].Left)
	assert.True(t, byKey["openai/tokens"].Blocks)
	assert.True(t, byKey["openai/tokens"].Tightest, "0 left is the tightest")
	n := 0
	for _, r := range got {
		if r.Tightest {
			n++
		}
	}
	assert.Equal(t, 1, n, "one window binds")
	// What Readings calls tightest is what Headroom ranks by.
	f, end, known := s.Headroom(now, "")
	require.True(t, known)
	assert.Equal(t, byKey["openai/tokens"].Left, f)
	assert.Equal(t, byKey["openai/tokens"].End, end)
	// The threshold is the caller's.
	assert.False(t, stateOf(win("codex/primary", util(0.99))).Readings(now, 0.995)[0].Blocks)
	assert.Empty(t, (&State{}).Readings(now, 0))
}

func TestSpend(t *testing.T) {
	s := stateOf(
		win("openai/requests", rem(2), lim(4), reset(after(time.Minute))),
		win("openai/tokens", rem(5000), lim(10000), reset(after(time.Minute))),
		win("anthropic/requests", lim(50), reset(after(time.Minute))),                  // remaining not sent: nothing to count down
		win("codex/primary", util(0.5), reset(after(time.Minute))),                     // not a request count
		win("openai/requests_usage_based", rem(3), lim(9), reset(after(-time.Second))), // over
	)
	s.Spend(now)
	_, blocked := s.Blocked(now, 0, "")
	assert.False(t, blocked, "one request of two left")
	s.Spend(now)
	until, blocked := s.Blocked(now, 0, "")
	assert.True(t, blocked, "the second selection took the last request")
	assert.Equal(t, after(time.Minute), until)
	s.Spend(now) // never below 0
	w := s.Windows()
	assertWindows(t, []Window{
		win("anthropic/requests", lim(50), reset(after(time.Minute))),
		win("codex/primary", util(0.5), reset(after(time.Minute))),
		win("openai/requests", rem(0), lim(4), reset(after(time.Minute))),
		win("openai/requests_usage_based", rem(3), lim(9), reset(after(-time.Second))),
		win("openai/tokens", rem(5000), lim(10000), reset(after(time.Minute))),
	}, w)
	// The provider's next answer is the truth again.
	s.Apply(Parse(header("x-ratelimit-remaining-requests", "40", "x-ratelimit-limit-requests", "100"), at(time.Second)))
	_, blocked = s.Blocked(at(time.Second), 0, "")
	assert.False(t, blocked)
}

// TestInFlightCountsAgainstTheNextFigure pins what an answer's figure means:
// the provider counted the requests it had received, not the ones still on
// their way, so those are taken off it; a request never answered stops
// counting after inFlightHold.
func TestInFlightCountsAgainstTheNextFigure(t *testing.T) {
	answer := func(remaining string, d time.Duration) Observation {
		return Parse(header("x-ratelimit-remaining-requests", remaining, "x-ratelimit-limit-requests", "10",
			"x-ratelimit-reset-requests", "60s"), at(d))
	}
	remaining := func(s *State) float64 {
		for _, w := range s.Windows() {
			if w.Key == "openai/requests" {
				return w.Remaining
			}
		}
		t.Fatal("no openai/requests window")
		return 0
	}
	tests := []struct {
		name     string
		spends   int           // requests handed out
		answered int           // answers before the one that brings the figure
		late     time.Duration // when that answer comes
		want     float64       // remaining after it, of the provider's 6
	}{
		{"the only request answered", 1, 0, time.Second, 6},
		{"three handed out, the first answers", 3, 0, time.Second, 4},
		{"three handed out, all answer", 3, 2, time.Second, 6},
		{"more in flight than left", 9, 0, time.Second, 0},
		{"unanswered ones lapse", 3, 0, 61 * time.Second, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			s.Apply(answer("10", 0))
			for range tt.spends {
				s.Spend(now)
			}
			for range tt.answered {
				s.Answered(now)
			}
			s.Answered(at(tt.late))
			s.Apply(answer("6", tt.late))
			assert.Equal(t, tt.want, remaining(&s))
		})
	}
}
