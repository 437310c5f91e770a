package oauth_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/oauth"
)

func TestDue(t *testing.T) {
	at := func(d time.Duration) float64 { return epoch.Seconds(now.Add(d)) }
	for _, tc := range []struct {
		name      string
		provider  string
		expiresAt float64
		horizon   time.Duration
		want      bool
	}{
		{"unknown expiry", oauth.Codex, 0, 0, false},
		{"unknown expiry, xai", oauth.XAI, 0, 0, false},
		{"garbage expiry", oauth.Codex, math.NaN(), 0, false},
		{"well ahead", oauth.Codex, at(121 * time.Second), 0, false},
		{"at the default horizon", oauth.Anthropic, at(120 * time.Second), 0, true},
		{"inside it", oauth.Nous, at(30 * time.Second), 0, true},
		{"expired", oauth.Codex, at(-time.Hour), 0, true},
		{"a longer horizon", oauth.Anthropic, at(500 * time.Second), 10 * time.Minute, true},
		{"outside a longer horizon", oauth.Anthropic, at(700 * time.Second), 10 * time.Minute, false},
		{"a longer horizon is no xai rule elsewhere", oauth.Codex, at(50 * time.Minute), 0, false},
		// xAI: an hour early while more than 45 minutes remain…
		{"xai two hours left", oauth.XAI, at(2 * time.Hour), 0, false},
		{"xai an hour left", oauth.XAI, at(time.Hour), 0, true},
		{"xai fifty minutes left", oauth.XAI, at(50 * time.Minute), 0, true},
		// …and only the default horizon early once 45 minutes or less do.
		{"xai 45 minutes left", oauth.XAI, at(45 * time.Minute), 0, false},
		{"xai ten minutes left", oauth.XAI, at(10 * time.Minute), 0, false},
		{"xai two minutes left", oauth.XAI, at(2 * time.Minute), 0, true},
		{"xai expired", oauth.XAI, at(-time.Second), 0, true},
		{"xai with a horizon past an hour", oauth.XAI, at(90 * time.Minute), 2 * time.Hour, true},
		{"xai short token with a longer horizon", oauth.XAI, at(8 * time.Minute), 10 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, oauth.Due(tc.provider, tc.expiresAt, now, tc.horizon))
		})
	}
}
