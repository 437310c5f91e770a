package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResetAt(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1780322400", want: time.Unix(1780322400, 0)},
		{in: " 1780322400.5 ", want: time.Unix(1780322400, 5e8)},
		{in: "1780322400123", want: time.Unix(1780322400, 123e6)},
		{in: "2026-06-08T12:00:00Z", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "2026-06-08T12:00:00.250+02:00", want: time.Date(2026, 6, 8, 10, 0, 0, 25e7, time.UTC)},
		{in: "2026-06-08T12:00:00", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "2026-06-08 12:00:00.123456", want: time.Date(2026, 6, 8, 12, 0, 0, 123456e3, time.UTC)},
		{in: "2026-06-08T12:00:00+0000", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "", bad: true},
		{in: "soon", bad: true},
		{in: "-5", bad: true},
		{in: "0", bad: true},
		{in: "NaN", bad: true},
		{in: "Inf", bad: true},
		{in: "1e300", bad: true},
		{in: "0001-01-01T00:00:00Z", bad: true}, // found by FuzzParseResetAt: time.Time's zero value
		{in: "1969-12-31T23:59:59Z", bad: true},
		{in: "1e-9", bad: true}, // rounds to the epoch itself
		{in: "9999-12-31T23:59:59-01:00", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseResetAt(tc.in, now)
			if tc.bad {
				assert.ErrorIs(t, err, ErrBadInput)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %v want %v", got, tc.want)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "30", want: now.Add(30 * time.Second)},
		{in: "0", want: now},
		{in: "1.5", want: now.Add(1500 * time.Millisecond)},
		{in: "Mon, 08 Jun 2026 12:00:00 GMT", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "Monday, 08-Jun-26 12:00:00 GMT", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "Mon Jun  8 12:00:00 2026", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "-1", bad: true},
		{in: "", bad: true},
		{in: "1e30", bad: true},
		{in: "tomorrow", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRetryAfter(tc.in, now)
			if tc.bad {
				assert.ErrorIs(t, err, ErrBadInput)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %v want %v", got, tc.want)
		})
	}
}

func TestDelayFromMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"Rate limited. retry after 30 seconds", 30 * time.Second, true},
		{"Please try again in 20s.", 20 * time.Second, true},
		{"Your quota resets in 2 hr 5 min", 2*time.Hour + 5*time.Minute, true},
		{`{"quotaResetDelay": "500ms"}`, 500 * time.Millisecond, true},
		{"try again in 1m30s", 90 * time.Second, true},
		{"retry in 2.5 seconds", 2500 * time.Millisecond, true},
		{"Retry-After: 45", 45 * time.Second, true},
		{"limit reached; please wait 3 minutes and 10 seconds", 3*time.Minute + 10*time.Second, true},
		{`"retryDelay": "12s"`, 12 * time.Second, true},
		{"resets in 1 day", 24 * time.Hour, true},
		{"rate limit exceeded", 0, false},
		{"retry later", 0, false},
		{"try again in 0 seconds", 0, false},
		{"", 0, false},
		{"reset at noon, retry in 5 minutes", 5 * time.Minute, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := DelayFromMessage(tc.in)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseResetAt(f *testing.F) {
	for _, s := range []string{"1780322400", "1780322400123", "2026-06-08T12:00:00Z", "2026-06-08 12:00:00.5", "x", "-1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseResetAt(s, t0)
		if err != nil {
			assert.ErrorIs(t, err, ErrBadInput)
			return
		}
		assert.True(t, got.After(time.Unix(0, 0)), "got %v", got)
		assert.LessOrEqual(t, got.Unix(), int64(maxEpochSeconds))
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "1.5", "Mon, 08 Jun 2026 12:00:00 GMT", "Mon Jun  8 12:00:00 2026", "-1", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseRetryAfter(s, t0); err != nil {
			assert.ErrorIs(t, err, ErrBadInput)
		}
	})
}

func FuzzDelayFromMessage(f *testing.F) {
	for _, s := range []string{"retry after 30 seconds", "Please try again in 20s", "resets in 2 hr 5 min",
		"quotaResetDelay: 500ms", "try again in 1m30s", "retry in 2.5 seconds", "retry in 1.2.3.4 s", "wait 99999999999999 days"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := DelayFromMessage(s)
		if ok {
			assert.Greater(t, d, time.Duration(0))
			assert.LessOrEqual(t, d, time.Duration(maxDelaySeconds)*time.Second)
		} else {
			assert.Zero(t, d)
		}
	})
}
