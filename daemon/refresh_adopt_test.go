package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/oauth/oauthtest"
)

// codexAuth is auth.json with one Codex device-code login holding tok, in
// the row and in the singleton, as Hermes writes it.
func codexAuth(t *testing.T, tok oauthtest.Token) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{
		"version":   1,
		"providers": map[string]any{"openai-codex": map[string]any{"tokens": map[string]any{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}}},
		"credential_pool": map[string]any{"openai-codex": []any{map[string]any{
			"id": "c0dex1", "label": "work", "auth_type": "oauth", "priority": 0, "source": "device_code",
			"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
		}}},
	}, "", "  ")
	require.NoError(t, err)
	return b
}

// A 401 asks for a refresh, the refresher waits for auth.lock, and the
// process holding it rotates the pair meanwhile: credpool takes that pair
// and sends nothing, and the refresh it had set out to make is over. It
// no longer shows as in flight (a select would wait for it), and the 401's
// wish is not carried over to the new pair (which would be refreshed
// again, for nothing).
func TestAdoptedRotationEndsTheRefresh(t *testing.T) {
	fake := oauthtest.New(t)
	clk := &fakeClock{t: fixtureNow}
	fake.SetClock(clk.Now)
	old, rotated := fake.Issue("openai-codex"), fake.Issue("openai-codex")
	h := start(t, codexAuth(t, old), func(c *Config) {
		c.Pool.Now = clk.Now
		c.TokenURLs = fake.Overrides()
	})
	h.clock = clk

	lk := flock.New(filepath.Join(filepath.Dir(h.auth), "auth.lock"))
	require.NoError(t, lk.Lock())
	locked := true
	defer func() {
		if locked {
			_ = lk.Unlock()
		}
	}()
	_, err := h.client.Report(context.Background(), "openai-codex", apitype.ReportRequest{CredentialID: "c0dex1", StatusCode: 401})
	require.NoError(t, err)
	daemontest.Eventually(t, "the refresh waiting for auth.lock", func() bool {
		v, err := h.d.Pool("openai-codex")
		require.NoError(t, err)
		return v.Entries[0].Refreshing
	})
	// The lock holder rotates the pair (as a Hermes refresh would) and
	// lets go.
	tmp := h.auth + ".peer"
	require.NoError(t, os.WriteFile(tmp, codexAuth(t, rotated), 0o600))
	require.NoError(t, os.Rename(tmp, h.auth))
	require.NoError(t, lk.Unlock())
	locked = false

	daemontest.Eventually(t, "the refresh over", func() bool {
		h.d.refresher.mu.Lock()
		defer h.d.refresher.mu.Unlock()
		h.d.stats.mu.Lock()
		defer h.d.stats.mu.Unlock()
		return len(h.d.refresher.flights) == 0 && h.d.stats.refreshes[[2]string{"openai-codex", outcomeAdopted}] == 1
	})
	v, err := h.d.Pool("openai-codex")
	require.NoError(t, err)
	assert.False(t, v.Entries[0].Refreshing, "the refresh is not shown in flight any more")
	h.d.mu.Lock()
	cands := h.d.pool.RefreshCandidates()
	h.d.mu.Unlock()
	require.Len(t, cands, 1)
	assert.True(t, cands[0].Tokens.AccessToken == rotated.AccessToken, "the entry holds the peer's pair")
	assert.False(t, cands[0].Wanted, "the 401 was about the old pair")
	assert.Zero(t, fake.TotalPosts(), "the peer's rotation was taken: no POST")
}
