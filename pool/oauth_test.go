package pool

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/tokeninfo"
)

func jwtExpiring(exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix())))
	return "eyJhbGciOiJub25lIn0." + payload + ".sig-SECRET"
}

func oauthEnt(id string, prio int, access string, opts ...func(*Entry)) Entry {
	return ent(id, prio, append([]func(*Entry){withToken(access), func(e *Entry) {
		e.AuthType, e.Source, e.RefreshToken = "oauth", "device_code", "rt-SECRET-"+id
	}}, opts...)...)
}

func TestExpiredTokensAreNeverHandedOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry Entry
		ok    bool
	}{
		{"valid JWT", oauthEnt("a", 0, jwtExpiring(t0.Add(time.Hour))), true},
		{"expired JWT", oauthEnt("a", 0, jwtExpiring(t0.Add(-time.Second))), false},
		{"expired expires_at", oauthEnt("a", 0, "opaque-token-0001", func(e *Entry) { e.ExpiresAt = epochOf(t0) - 1 }), false},
		{"expires_at wins over the JWT", oauthEnt("a", 0, jwtExpiring(t0.Add(-time.Hour)), func(e *Entry) { e.ExpiresAt = epochOf(t0) + 60 }), true},
		{"no expiry known", oauthEnt("a", 0, "opaque-token-0001"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {tc.entry}})
			assert.Equal(t, tc.ok, viewOf(t, p, prov, "a").Available)
			_, err := p.Select(prov, SelectOptions{})
			assert.Equal(t, tc.ok, err == nil)
		})
	}
}

func TestRefreshedIsANewGeneration(t *testing.T) {
	old := jwtExpiring(t0.Add(time.Minute))
	a := oauthEnt("a", 0, old)
	alias := oauthEnt("m", 1, old, func(e *Entry) { e.Source = "manual:device_code"; e.RefreshToken = "rt-SECRET-a" })
	disk := Snapshot{Pools: map[string][]Entry{"openai-codex": {a, alias}},
		Singletons: map[string]Singleton{"openai-codex": {Tokens{AccessToken: old, RefreshToken: "rt-SECRET-a"}}}}
	p, c := newTest(t, Config{}, nil)
	p.Load(disk)
	_, err := p.Report("openai-codex", Report{CredentialID: "a", StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	cands := p.RefreshCandidates()
	require.Len(t, cands, 0, "a DEAD entry is no candidate")

	_, _, err = p.Reset("openai-codex", "")
	require.NoError(t, err)
	cands = p.RefreshCandidates()
	require.Len(t, cands, 2)
	assert.InDelta(t, epochOf(t0.Add(time.Minute)), cands[0].ExpiresAt, 1)

	fresh := Tokens{AccessToken: jwtExpiring(t0.Add(time.Hour)), RefreshToken: "rt-SECRET-new"}
	p.RefreshStarted("openai-codex", "a")
	assert.True(t, p.Refreshing("openai-codex"))
	ch, err := p.Refreshed("openai-codex", "a", cands[0].Tokens, fresh, 0)
	require.NoError(t, err)
	assert.True(t, hasChange(ch, ChangeRefreshed, "a"))
	assert.True(t, hasChange(ch, ChangeRefreshed, "m"), "the alias holding the same pair refreshes with it")
	assertNoSecrets(t, ch, fresh.AccessToken, fresh.RefreshToken, old)
	assert.False(t, p.Refreshing("openai-codex"))
	assert.InDelta(t, epochOf(t0.Add(time.Hour)), viewOf(t, p, "openai-codex", "a").ExpiresAt, 1, "the expiry of the JWT shows")

	// Written back to the row and to the singleton Hermes reads.
	out := roundTrip(p, disk)
	assert.Equal(t, fresh.AccessToken, out.Pools["openai-codex"][0].AccessToken)
	assert.Equal(t, fresh, out.Singletons["openai-codex"].Tokens)
	// A stale writer bringing back the spent pair is undone.
	p.Load(disk)
	assert.Equal(t, fresh.AccessToken, entryOf(t, p, "openai-codex", "a").AccessToken)

	// A refresh that finds the pair rotated meanwhile changes nothing.
	_, err = p.Refreshed("openai-codex", "a", cands[0].Tokens, Tokens{AccessToken: "x-SECRET-x", RefreshToken: "y"}, 0)
	assert.ErrorIs(t, err, ErrStale)
	_ = c
}

func TestRefreshFailed(t *testing.T) {
	a := oauthEnt("a", 0, jwtExpiring(t0.Add(time.Hour)))
	t.Run("terminal makes it DEAD", func(t *testing.T) {
		p, _ := newTest(t, Config{}, map[string][]Entry{prov: {a, ent("b", 1)}})
		ch := p.RefreshFailed(prov, "a", tokensOf(&a), RefreshFailure{Terminal: true, Status: 400, Reason: "invalid_grant"})
		assert.True(t, hasChange(ch, ChangeDead, "a"))
		assert.Equal(t, StatusDead, viewOf(t, p, prov, "a").Status)
		assert.Equal(t, "invalid_grant", viewOf(t, p, prov, "a").RefreshError)
	})
	t.Run("transient leaves it usable while its token is valid", func(t *testing.T) {
		p, _ := newTest(t, Config{}, map[string][]Entry{prov: {a}})
		ch := p.RefreshFailed(prov, "a", tokensOf(&a), RefreshFailure{Status: 503, Reason: "server error"})
		assert.True(t, hasChange(ch, ChangeRefreshFailed, "a"))
		assert.True(t, viewOf(t, p, prov, "a").Available)
		assert.Equal(t, "server error", viewOf(t, p, prov, "a").RefreshError)
	})
}

func TestExternalLoginsKeepNoSecretOnDisk(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{"anthropic": {ent("a", 0)}})
	login := Login{Provider: "anthropic", Source: "claude_code", AuthType: "oauth",
		AccessToken: "sk-ant-oat01-SECRET-login-1", RefreshToken: "sk-ant-ort01-SECRET-1", Label: "me@example.com"}
	ch, err := p.AttachLogin(login)
	require.NoError(t, err)
	require.Len(t, ch, 1)
	require.Equal(t, ChangeAdded, ch[0].Kind)
	disk := roundTrip(p, snapshotOf(map[string][]Entry{"anthropic": {ent("a", 0)}}))
	require.Len(t, disk.Pools["anthropic"], 2)
	row := disk.Pools["anthropic"][1]
	assert.Equal(t, "claude_code", row.Source)
	assert.Empty(t, row.AccessToken)
	assert.Empty(t, row.RefreshToken)
	assert.Equal(t, tokeninfo.Fingerprint(login.AccessToken), row.SecretFingerprint)
	id := row.ID
	assert.Equal(t, login.AccessToken, entryOf(t, p, "anthropic", id).AccessToken, "served from memory")

	// A verdict on it is kept on disk, with the fingerprint of the login.
	_, err = p.Report("anthropic", Report{CredentialID: id, StatusCode: 401, Reason: "token_revoked"})
	require.NoError(t, err)
	disk = roundTrip(p, disk)
	assert.Equal(t, StatusDead, disk.Pools["anthropic"][1].LastStatus)
	for _, e := range disk.Pools["anthropic"] {
		assert.NotContains(t, e.AccessToken+e.RefreshToken, "SECRET-login", "no secret of the login in auth.json")
	}

	// A restarted daemon reads the row, then the same login: still DEAD.
	q, _ := newTest(t, Config{}, disk.Pools)
	_, err = q.AttachLogin(login)
	require.NoError(t, err)
	assert.Equal(t, StatusDead, viewOf(t, q, "anthropic", id).Status)
	// Logging in again with the tool brings it back.
	relogin := login
	relogin.AccessToken, relogin.RefreshToken = "sk-ant-oat01-SECRET-login-2", "sk-ant-ort01-SECRET-2"
	ch, err = q.AttachLogin(relogin)
	require.NoError(t, err)
	assert.True(t, hasChange(ch, ChangeRecovered, id), "%v", ch)
	assert.True(t, viewOf(t, q, "anthropic", id).Available)
	out := roundTrip(q, disk)
	assert.Equal(t, tokeninfo.Fingerprint(relogin.AccessToken), out.Pools["anthropic"][1].SecretFingerprint)
	assert.Equal(t, Status(""), out.Pools["anthropic"][1].LastStatus)

	// Blanked tokens (the loser of a Claude Code refresh race) are never
	// adopted: the entry is shown broken and not handed out.
	broken := relogin
	broken.AccessToken, broken.RefreshToken, broken.Broken = "", "", "blanked tokens"
	_, err = q.AttachLogin(broken)
	require.NoError(t, err)
	v := viewOf(t, q, "anthropic", id)
	assert.False(t, v.Available)
	assert.Equal(t, "blanked tokens", v.LoginBroken)
	for _, s := range []string{v.TokenHint, v.LastErrorMessage} {
		assert.False(t, strings.Contains(s, "SECRET"))
	}
}

// TestReportsOnAReplacedPairMarkNothing pins which reports are about the
// pair an entry holds now. After a refresh (or a re-login) the agents that
// used the old pair keep reporting for a while; their 401s and deaths
// belong to the old pair, and must neither bench nor kill the new one nor
// ask for another refresh.
func TestReportsOnAReplacedPairMarkNothing(t *testing.T) {
	old := jwtExpiring(t0.Add(time.Hour))
	fresh := Tokens{AccessToken: jwtExpiring(t0.Add(2 * time.Hour)), RefreshToken: "rt-SECRET-fresh"}
	tests := []struct {
		name   string
		report func(oldLease, newLease string) Report
		stale  bool
	}{
		{"id with the old token", func(_, _ string) Report { return Report{CredentialID: "a", APIKeyHint: old} }, true},
		{"the old token alone", func(_, _ string) Report { return Report{APIKeyHint: old} }, false}, // no entry holds it: unmatched
		{"a lease on the old pair", func(l, _ string) Report { return Report{LeaseID: l} }, true},
		{"id and a lease on the old pair", func(l, _ string) Report { return Report{CredentialID: "a", LeaseID: l} }, true},
		{"a lease on the new pair", func(_, l string) Report { return Report{LeaseID: l} }, false},
		{"id with the new token", func(_, _ string) Report { return Report{CredentialID: "a", APIKeyHint: fresh.AccessToken} }, false},
		{"id alone", func(_, _ string) Report { return Report{CredentialID: "a"} }, false},
		{"id with a token never seen", func(_, _ string) Report { return Report{CredentialID: "a", APIKeyHint: "sk-unknown-SECRET"} }, false},
	}
	for _, tc := range tests {
		for _, code := range []int{401, 429} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, code), func(t *testing.T) {
				a := oauthEnt("a", 0, old)
				p, _ := newTest(t, Config{MaxLeases: 2}, map[string][]Entry{prov: {a}})
				s1, err := p.Select(prov, SelectOptions{Lease: true})
				require.NoError(t, err)
				p.RefreshStarted(prov, "a")
				_, err = p.Refreshed(prov, "a", tokensOf(&a), fresh, 0)
				require.NoError(t, err)
				s2, err := p.Select(prov, SelectOptions{Lease: true})
				require.NoError(t, err)

				r := tc.report(s1.Lease.ID, s2.Lease.ID)
				r.StatusCode = code
				res, err := p.Report(prov, r)
				require.NoError(t, err)
				assert.Equal(t, tc.stale, res.Stale)
				v := viewOf(t, p, prov, "a")
				if tc.stale || res.Unmatched {
					assert.Nil(t, res.Marked)
					assert.False(t, res.RefreshWanted, "a stale 401 asks for no second refresh")
					assert.Equal(t, StatusOK, v.Status)
					assert.True(t, v.Available)
					require.NotNil(t, res.Next)
					assert.Equal(t, fresh.AccessToken, res.Next.AccessToken)
				} else {
					require.NotNil(t, res.Marked)
					assert.Equal(t, StatusExhausted, v.Status)
					assert.Equal(t, code == 401, res.RefreshWanted)
				}
			})
		}
	}
}

// A DEAD verdict observed on the pair before a re-login does not kill the
// pair the re-login brought.
func TestDeathOfTheOldLoginSparesTheNew(t *testing.T) {
	a := oauthEnt("a", 0, "sk-old-login-SECRET")
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {a}})
	relogin := a
	relogin.AccessToken, relogin.RefreshToken = "sk-new-login-SECRET", "rt-new-login-SECRET"
	p.Load(Snapshot{Pools: map[string][]Entry{prov: {relogin}}})
	res, err := p.Report(prov, Report{CredentialID: "a", APIKeyHint: a.AccessToken, StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	assert.True(t, res.Stale)
	assert.Equal(t, StatusOK, viewOf(t, p, prov, "a").Status)
	// The same death on the new login is a death.
	res, err = p.Report(prov, Report{CredentialID: "a", APIKeyHint: relogin.AccessToken, StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	assert.False(t, res.Stale)
	assert.Equal(t, StatusDead, viewOf(t, p, prov, "a").Status)
}

// A tool the user never logged in with shows nothing: no entry, and no
// empty pool in status (a reload would drop it again, so views flickered).
func TestNoLoginMakesNoPool(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	for _, l := range []Login{
		{Provider: "anthropic", Source: "claude_code", Broken: "logged out"},
		{Provider: "qwen-oauth", Source: "qwen-cli", AccessToken: "", RefreshToken: "rt-SECRET"},
	} {
		ch, err := p.AttachLogin(l)
		require.NoError(t, err)
		assert.Empty(t, ch)
	}
	var names []string
	for _, v := range p.Views() {
		names = append(names, v.Provider)
	}
	assert.Equal(t, []string{prov}, names)
}
