package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

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
