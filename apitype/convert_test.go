package apitype

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// TestEntryQuotaWire: the one dialect for quota too. A 0 the provider sent
// is 0, a number it did not send is null, times are epoch seconds, and an
// entry without readings says null.
func TestEntryQuotaWire(t *testing.T) {
	now := time.Unix(1780315200, 0)
	p := pool.New(pool.Config{Now: func() time.Time { return now }})
	p.Load(pool.Snapshot{Pools: map[string][]pool.Entry{"openai": {
		{ID: "aaaaaa", AuthType: "api_key", Source: "manual", AccessToken: "sk-SECRET-wire-a"},
		{ID: "bbbbbb", AuthType: "api_key", Priority: 1, Source: "manual", AccessToken: "sk-SECRET-wire-b"},
	}}})
	_, err := p.Report("openai", pool.Report{CredentialID: "aaaaaa", StatusCode: 200, Headers: map[string]string{
		"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s",
		"x-ratelimit-remaining-tokens": "1000"}})
	require.NoError(t, err)
	v, err := p.View("openai")
	require.NoError(t, err)
	raw, err := json.Marshal(PoolFrom(v))
	require.NoError(t, err)
	var got struct {
		Entries []map[string]json.RawMessage `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got.Entries, 2)
	assert.JSONEq(t, `[
		{"key": "openai/requests", "model": null, "remaining": 0, "limit": 500, "utilization": null, "left": 0,
		 "exhausted": false, "reset_at": 1780315230, "seen_at": 1780315200, "blocking": true, "tightest": true},
		{"key": "openai/tokens", "model": null, "remaining": 1000, "limit": null, "utilization": null, "left": null,
		 "exhausted": false, "reset_at": 1780315260, "seen_at": 1780315200, "blocking": false, "tightest": false}
	]`, string(got.Entries[0]["quota"]))
	assert.Equal(t, "1780315230", string(got.Entries[0]["quota_until"]))
	assert.Equal(t, "null", string(got.Entries[1]["quota"]))
	assert.Equal(t, "null", string(got.Entries[1]["quota_until"]))
	assert.NotContains(t, string(raw), "SECRET")
}
