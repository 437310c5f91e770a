package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/tokeninfo"
)

// oauthRig is a daemon on a pool of OAuth entries whose token endpoint is
// the fake, with the fake and the daemon on one injected clock.
type oauthRig struct {
	*harness
	fake  *oauthtest.Server
	clock *fakeClock
}

// oauthRow is one OAuth entry as Hermes writes it.
func oauthRow(id, source string, tok oauthtest.Token) map[string]any {
	return map[string]any{
		"id": id, "label": id + "@example.com", "auth_type": "oauth", "priority": 0,
		"source": source, "access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
		"request_count": 0,
	}
}

// startOAuth writes doc (credential_pool rows by provider, plus codex's
// singleton when a device_code row is there) and starts the daemon.
func startOAuth(t *testing.T, fake *oauthtest.Server, clock *fakeClock, pools map[string][]map[string]any) *oauthRig {
	t.Helper()
	doc := map[string]any{"version": 1, "providers": map[string]any{}, "credential_pool": pools}
	for prov, rows := range pools {
		for _, r := range rows {
			if r["source"] == "device_code" {
				doc["providers"].(map[string]any)[prov] = map[string]any{
					"auth_mode": "chatgpt",
					"tokens":    map[string]any{"access_token": r["access_token"], "refresh_token": r["refresh_token"], "id_token": "id-keep-me"},
				}
			}
		}
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	h := start(t, raw, func(c *Config) {
		c.Pool.Now = clock.Now
		c.TokenURLs = fake.Overrides()
	})
	return &oauthRig{harness: h, fake: fake, clock: clock}
}

func newFake(t *testing.T) (*oauthtest.Server, *fakeClock) {
	clock := &fakeClock{t: fixtureNow}
	fake := oauthtest.New(t)
	fake.SetClock(clock.Now)
	return fake, clock
}

// onDisk is the entry as another process reads it from auth.json.
func (r *oauthRig) onDisk(t *testing.T, provider, id string) pool.Entry {
	t.Helper()
	e, ok := diskEntry(t, r.auth, provider, id)
	require.True(t, ok, "%s/%s on disk", provider, id)
	return e
}

func (r *oauthRig) singleton(t *testing.T, provider string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(r.auth)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	p, _ := doc["providers"].(map[string]any)[provider].(map[string]any)
	tokens, _ := p["tokens"].(map[string]any)
	return tokens
}

// issuedAfter is the pair the fake issued for the refresh of rt.
func (r *oauthRig) issuedAfter(t *testing.T, n int) oauthtest.Token {
	t.Helper()
	issued := r.fake.Issued()
	require.Greater(t, len(issued), n, "the fake issued %d pairs", len(issued))
	return issued[n]
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	fake, clock := newFake(t)
	fake.SetLifetime(60*time.Second, false) // inside the 120 s horizon
	old := fake.Issue("openai-codex")
	fake.SetLifetime(time.Hour, false)
	r := startOAuth(t, fake, clock, map[string][]map[string]any{"openai-codex": {oauthRow("c0dex1", "device_code", old)}})

	daemontest.Eventually(t, "refreshed on disk", func() bool {
		return r.onDisk(t, "openai-codex", "c0dex1").RefreshToken != old.RefreshToken
	})
	fresh := r.issuedAfter(t, 1)
	row := r.onDisk(t, "openai-codex", "c0dex1")
	assert.Equal(t, fresh.AccessToken, row.AccessToken)
	assert.Equal(t, fresh.RefreshToken, row.RefreshToken)
	assert.NotEmpty(t, row.LastRefresh)
	// Hermes reads a device_code login's singleton: it must hold the pair
	// too, and keep what it had beside it.
	sg := r.singleton(t, "openai-codex")
	assert.Equal(t, fresh.AccessToken, sg["access_token"])
	assert.Equal(t, fresh.RefreshToken, sg["refresh_token"])
	assert.Equal(t, "id-keep-me", sg["id_token"])
	assert.Equal(t, 1, fake.Posts(old.RefreshToken))
	daemontest.Eventually(t, "entry.refreshed", func() bool { return r.events.has("entry.refreshed", "c0dex1") })

	sel, err := r.client.Select(context.Background(), "openai-codex", apitype.SelectRequest{})
	require.NoError(t, err)
	assert.Equal(t, fresh.AccessToken, sel.Credential.AccessToken)

	// An hour's token is left alone until it is inside the horizon.
	clock.Add(50 * time.Minute)
	time.Sleep(3 * r.d.cfg.Tick)
	assert.Equal(t, 0, fake.Posts(fresh.RefreshToken), "refreshed 10 minutes early")
	clock.Add(9 * time.Minute)
	daemontest.Eventually(t, "second refresh", func() bool { return fake.Posts(fresh.RefreshToken) == 1 })
	assert.Equal(t, 2, fake.TotalPosts())
}

func TestReported401RefreshesOnce(t *testing.T) {
	fake, clock := newFake(t)
	old := fake.Issue("openai-codex")
	r := startOAuth(t, fake, clock, map[string][]map[string]any{"openai-codex": {oauthRow("c0dex1", "manual", old)}})
	ctx := context.Background()

	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every agent used the old token; those whose report comes
			// after the refresh report on a replaced pair.
			_, err := r.client.Report(ctx, "openai-codex", apitype.ReportRequest{CredentialID: "c0dex1", APIKeyHint: old.AccessToken, StatusCode: 401})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	daemontest.Eventually(t, "refreshed", func() bool {
		return fake.TotalPosts() == 1 && r.onDisk(t, "openai-codex", "c0dex1").RefreshToken != old.RefreshToken
	})
	sel, err := r.client.Select(ctx, "openai-codex", apitype.SelectRequest{})
	require.NoError(t, err)
	assert.Equal(t, r.issuedAfter(t, 1).AccessToken, sel.Credential.AccessToken)
	assert.Equal(t, 1, fake.Posts(old.RefreshToken), "one POST for fifty 401s")
	e := r.entry(t, "openai-codex", "c0dex1")
	assert.Equal(t, "ok", e.Status, "a 401 that was cured by a refresh leaves no cooldown")
}

// TestRefreshOutcomes pins what each answer of the token endpoint does to
// the entry.
func TestRefreshOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		answer   oauthtest.Failure
		dead     string // the DEAD reason, "" when the entry must live
		retryIn  time.Duration
	}{
		{"invalid_grant is dead", "openai-codex", oauthtest.InvalidGrant, "invalid_grant", 0},
		{"refresh_token_reused is dead", "anthropic", oauthtest.Reused, "refresh_token_reused", 0},
		{"codex 401 is dead", "openai-codex", oauthtest.Failure{Status: 401, Code: "token_expired"}, "token_expired", 0},
		{"429 is a wait", "openai-codex", oauthtest.RateLimited("120"), "", 120 * time.Second},
		{"500 is retried", "anthropic", oauthtest.ServerError, "", refreshRetryBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, clock := newFake(t)
			fake.SetLifetime(90*time.Second, false)
			old := fake.Issue(tt.provider)
			fake.SetLifetime(time.Hour, false)
			fake.FailNext(tt.answer)
			row := oauthRow("e1", "manual", old)
			// Anthropic's tokens are opaque: the expiry is in the row.
			row["expires_at_ms"] = fixtureNow.Add(90 * time.Second).UnixMilli()
			r := startOAuth(t, fake, clock, map[string][]map[string]any{tt.provider: {row}})
			daemontest.Eventually(t, "refresh_failed", func() bool { return r.events.has("entry.refresh_failed", "e1") })
			if tt.dead != "" {
				daemontest.Eventually(t, "dead on disk", func() bool { return r.onDisk(t, tt.provider, "e1").LastStatus == "dead" })
				assert.Equal(t, tt.dead, r.onDisk(t, tt.provider, "e1").LastErrorReason)
				assert.Equal(t, 1, fake.TotalPosts(), "a dead refresh token is not tried again")
			} else {
				e := r.entry(t, tt.provider, "e1")
				assert.Equal(t, "ok", e.Status)
				assert.True(t, e.Available, "the access token is still valid")
				assert.NotNil(t, e.RefreshError)
				// Just short of the wait: nothing is sent.
				clock.Add(tt.retryIn - tt.retryIn/8)
				time.Sleep(3 * r.d.cfg.Tick)
				assert.Equal(t, 1, fake.TotalPosts(), "retried before its backoff")
				clock.Add(tt.retryIn / 8)
				daemontest.Eventually(t, "refreshed after the wait", func() bool {
					return r.onDisk(t, tt.provider, "e1").RefreshToken != old.RefreshToken
				})
				assert.Nil(t, r.entry(t, tt.provider, "e1").RefreshError)
			}
			// The fake echoes the refresh token in every error answer.
			assert.NotContains(t, r.logs.String(), old.RefreshToken)
			raw, err := os.ReadFile(r.auth)
			require.NoError(t, err)
			assert.NotContains(t, strings.ReplaceAll(string(raw), `"refresh_token": "`+old.RefreshToken+`"`, ""), old.RefreshToken,
				"the refresh token is in its field and nowhere else")
		})
	}
}

// TestPeerRotationIsAdopted: another process holds auth.lock and rotates
// the pair while credpool waits for the lock; credpool takes that pair and
// sends nothing.
func TestPeerRotationIsAdopted(t *testing.T) {
	fake, clock := newFake(t)
	old := fake.Issue("openai-codex")
	r := startOAuth(t, fake, clock, map[string][]map[string]any{"openai-codex": {oauthRow("c0dex1", "device_code", old)}})
	ctx := context.Background()

	lk := flock.New(filepath.Join(filepath.Dir(r.auth), "auth.lock"))
	require.NoError(t, lk.Lock())
	_, err := r.client.Report(ctx, "openai-codex", apitype.ReportRequest{CredentialID: "c0dex1", StatusCode: 401})
	require.NoError(t, err)
	daemontest.Eventually(t, "refresh waits for the lock", func() bool { return r.entry(t, "openai-codex", "c0dex1").Refreshing })

	peer := fake.Issue("openai-codex")
	raw, err := os.ReadFile(r.auth)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	e := daemontest.Entry(doc, "openai-codex", "c0dex1")
	e["access_token"], e["refresh_token"] = peer.AccessToken, peer.RefreshToken
	tokens := doc["providers"].(map[string]any)["openai-codex"].(map[string]any)["tokens"].(map[string]any)
	tokens["access_token"], tokens["refresh_token"] = peer.AccessToken, peer.RefreshToken
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	tmp := r.auth + ".peer"
	require.NoError(t, os.WriteFile(tmp, out, 0o600))
	require.NoError(t, os.Rename(tmp, r.auth))
	require.NoError(t, lk.Unlock())

	daemontest.Eventually(t, "the peer's pair is served", func() bool {
		sel, err := r.client.Select(ctx, "openai-codex", apitype.SelectRequest{})
		return err == nil && sel.Credential.AccessToken == peer.AccessToken
	})
	daemontest.Eventually(t, "refresh over", func() bool { return !r.entry(t, "openai-codex", "c0dex1").Refreshing })
	assert.Equal(t, 0, fake.TotalPosts(), "a peer's rotation is adopted, not repeated")
	m, err := r.client.Metrics(ctx)
	require.NoError(t, err)
	assert.True(t, strings.Contains(m, `credpool_refreshes_total{outcome="adopted",provider="openai-codex"} 1`), "adopted refreshes counted")
}

// TestSpentLedgerIsHonoured: Hermes' record of spent Anthropic refresh
// tokens is never POSTed, and credpool adds the ones it spends.
func TestSpentLedgerIsHonoured(t *testing.T) {
	fake, clock := newFake(t)
	spent, live := fake.Issue("anthropic"), fake.Issue("anthropic")
	fake.SetLifetime(time.Hour, false)
	r := startOAuth(t, fake, clock, map[string][]map[string]any{"anthropic": {oauthRow("spent1", "manual", spent), oauthRow("live1", "manual", live)}})
	// Hermes' ledger for its own Anthropic credentials file, beside auth.json.
	ledger := filepath.Join(filepath.Dir(r.auth), ".anthropic_oauth.json.hermes-spent-rotations.json")
	require.NoError(t, os.WriteFile(ledger, []byte(`{"version":1,"fingerprints":["`+tokeninfo.Fingerprint(spent.RefreshToken)+`"]}`), 0o600))
	ctx := context.Background()
	for _, id := range []string{"spent1", "live1"} {
		_, err := r.client.Report(ctx, "anthropic", apitype.ReportRequest{CredentialID: id, StatusCode: 401})
		require.NoError(t, err)
	}
	daemontest.Eventually(t, "spent1 dead", func() bool { return r.onDisk(t, "anthropic", "spent1").LastStatus == "dead" })
	assert.Equal(t, "refresh_token_reused", r.onDisk(t, "anthropic", "spent1").LastErrorReason)
	assert.Equal(t, 0, fake.Posts(spent.RefreshToken), "a spent token is never sent")
	daemontest.Eventually(t, "live1 refreshed", func() bool { return r.onDisk(t, "anthropic", "live1").RefreshToken != live.RefreshToken })
	raw, err := os.ReadFile(ledger)
	require.NoError(t, err)
	var l struct {
		Version      int      `json:"version"`
		Fingerprints []string `json:"fingerprints"`
	}
	require.NoError(t, json.Unmarshal(raw, &l))
	assert.Equal(t, 1, l.Version)
	assert.ElementsMatch(t, []string{tokeninfo.Fingerprint(spent.RefreshToken), tokeninfo.Fingerprint(live.RefreshToken)}, l.Fingerprints)
}

// TestRefreshedPairSurvivesAFailedWrite: the old pair is spent once the
// POST succeeds, so a write that fails must not lose the new one: it is
// served from memory, health says degraded, and it reaches the file when
// the file can be written again, even if the file that comes back holds
// the old pair.
func TestRefreshedPairSurvivesAFailedWrite(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, path string, good []byte)
		check  func(t *testing.T, path string, good []byte)
	}{
		{"half-written by a writer that ignores auth.lock",
			func(t *testing.T, path string, good []byte) {
				require.NoError(t, os.WriteFile(path, good[:len(good)/2], 0o600))
			},
			func(t *testing.T, path string, good []byte) {
				assert.Equal(t, good[:len(good)/2], mustRead(t, path), "a half-written file is never written over")
			}},
		// A file that is not there is not an empty pool: the refresher's
		// merge under the lock once dropped every entry, the new pair too.
		{"removed",
			func(t *testing.T, path string, _ []byte) { require.NoError(t, os.Remove(path)) },
			func(t *testing.T, path string, _ []byte) {
				_, err := os.Stat(path)
				assert.ErrorIs(t, err, os.ErrNotExist, "a vanished file is not recreated from memory")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, clock := newFake(t)
			old := fake.Issue("openai-codex")
			fake.FailNext(oauthtest.Slow(400 * time.Millisecond))
			r := startOAuth(t, fake, clock, map[string][]map[string]any{"openai-codex": {oauthRow("c0dex1", "manual", old)}})
			ctx := context.Background()
			good, err := os.ReadFile(r.auth)
			require.NoError(t, err)

			_, err = r.client.Report(ctx, "openai-codex", apitype.ReportRequest{CredentialID: "c0dex1", StatusCode: 401})
			require.NoError(t, err)
			daemontest.Eventually(t, "POST in flight", func() bool { return len(fake.Requests()) == 1 })
			tt.break_(t, r.auth, good)

			daemontest.Eventually(t, "the new pair is served", func() bool {
				sel, err := r.client.Select(ctx, "openai-codex", apitype.SelectRequest{})
				return err == nil && len(fake.Issued()) == 2 && sel.Credential.AccessToken == fake.Issued()[1].AccessToken
			})
			daemontest.Eventually(t, "health says degraded", func() bool {
				hl, err := r.client.Health(ctx)
				return err == nil && hl.Status == "degraded"
			})
			tt.check(t, r.auth, good)

			// The file comes back as it was before the refresh: the old pair is
			// an older generation, so the new one is written over it.
			require.NoError(t, os.WriteFile(r.auth, good, 0o600))
			fresh := fake.Issued()[1]
			daemontest.Eventually(t, "the new pair reaches the file", func() bool {
				return r.onDisk(t, "openai-codex", "c0dex1").RefreshToken == fresh.RefreshToken
			})
			assert.Equal(t, fresh.AccessToken, r.onDisk(t, "openai-codex", "c0dex1").AccessToken)
			assert.Equal(t, 1, fake.TotalPosts())
		})
	}
}

// TestSelectWaitsForARefreshInFlight: an expired access token is never
// handed out; a select with nothing else waits for the refresh.
func TestSelectWaitsForARefreshInFlight(t *testing.T) {
	fake, clock := newFake(t)
	fake.SetClock(func() time.Time { return fixtureNow.Add(-2 * time.Hour) })
	old := fake.Issue("openai-codex") // expired an hour ago
	fake.SetClock(clock.Now)
	fake.FailNext(oauthtest.Slow(300 * time.Millisecond))
	r := startOAuth(t, fake, clock, map[string][]map[string]any{"openai-codex": {oauthRow("c0dex1", "manual", old)}})

	sel, err := r.client.Select(context.Background(), "openai-codex", apitype.SelectRequest{})
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, sel.Credential.AccessToken, "an expired token was handed out")
	assert.Equal(t, r.issuedAfter(t, 1).AccessToken, sel.Credential.AccessToken)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// A claude_code row of auth.json (Hermes seeded it) keeps Hermes' ledger
// beside Claude Code's credentials file, whether or not credpool follows
// that login: the ledger there is honoured.
func TestSpentLedgerOfClaudeCodeRows(t *testing.T) {
	fake, clock := newFake(t)
	spent := fake.Issue("anthropic")
	creds := filepath.Join(t.TempDir(), ".claude", ".credentials.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(creds), 0o700))
	require.NoError(t, os.WriteFile(oauth.SpentLedgerPath(creds),
		[]byte(`{"version":1,"fingerprints":["`+tokeninfo.Fingerprint(spent.RefreshToken)+`"]}`), 0o600))
	doc := map[string]any{"version": 1, "providers": map[string]any{},
		"credential_pool": map[string][]map[string]any{"anthropic": {oauthRow("cc1", "claude_code", spent)}}}
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	h := start(t, raw, func(c *Config) {
		c.Pool.Now = clock.Now
		c.TokenURLs = fake.Overrides()
		c.ClaudeCredentials = creds // not followed: no Logins
	})
	_, err = h.client.Report(context.Background(), "anthropic", apitype.ReportRequest{CredentialID: "cc1", StatusCode: 401})
	require.NoError(t, err)
	daemontest.Eventually(t, "dead", func() bool {
		e, ok := diskEntry(t, h.auth, "anthropic", "cc1")
		return ok && e.LastStatus == "dead"
	})
	e, _ := diskEntry(t, h.auth, "anthropic", "cc1")
	assert.Equal(t, "refresh_token_reused", e.LastErrorReason)
	assert.Equal(t, 0, fake.TotalPosts(), "a token Hermes spent is never sent")
}
