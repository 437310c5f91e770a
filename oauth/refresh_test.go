package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
)

const (
	form   = "application/x-www-form-urlencoded"
	jsonCT = "application/json"
)

// TestRefreshRotates: every provider refreshes in its own format (the fake
// refuses any other), the answer's tokens come back, the old refresh token
// is spent (a second use is refresh_token_reused, terminal), and the new one
// refreshes again.
func TestRefreshRotates(t *testing.T) {
	for _, tc := range []struct {
		name, provider, source, contentType string
		idToken                             bool
		reuseStatus                         int
	}{
		{"codex", oauth.Codex, "device_code", form, true, http.StatusUnauthorized},
		{"anthropic claude_code", oauth.Anthropic, "claude_code", form, false, http.StatusBadRequest},
		{"anthropic hermes_pkce", oauth.Anthropic, "hermes_pkce", jsonCT, false, http.StatusBadRequest},
		{"anthropic manual hermes_pkce", oauth.Anthropic, "manual:hermes_pkce", jsonCT, false, http.StatusBadRequest},
		{"xai", oauth.XAI, "device_code", form, true, http.StatusBadRequest},
		{"nous", oauth.Nous, "device_code", form, false, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fake(t)
			r := pointedAt(s)
			login := s.Issue(tc.provider)
			req := oauth.Request{Provider: tc.provider, RefreshToken: login.RefreshToken, Source: tc.source}

			res, err := r.Refresh(context.Background(), req)
			require.NoError(t, err)
			got := lastIssued(t, s)
			assert.Equal(t, got.AccessToken, res.AccessToken)
			assert.Equal(t, got.RefreshToken, res.RefreshToken)
			assert.NotEqual(t, login.RefreshToken, res.RefreshToken)
			assert.Equal(t, got.IDToken, res.IDToken)
			assert.Equal(t, tc.idToken, res.IDToken != "")
			assert.InDelta(t, epoch.Seconds(now)+3600, res.ExpiresAt, 1e-6)
			assert.Equal(t, 1, s.Posts(login.RefreshToken))
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, tc.contentType, reqs[0].ContentType)
			assert.Equal(t, http.StatusOK, reqs[0].Status)

			_, err = r.Refresh(context.Background(), req)
			e := refreshErr(t, err)
			assert.Equal(t, oauth.Terminal, e.Kind)
			assert.Equal(t, "refresh_token_reused", e.Code)
			assert.Equal(t, tc.reuseStatus, e.Status)
			assert.Equal(t, 2, s.Posts(login.RefreshToken))

			req.RefreshToken = res.RefreshToken
			res2, err := r.Refresh(context.Background(), req)
			require.NoError(t, err)
			assert.Equal(t, lastIssued(t, s).AccessToken, res2.AccessToken)
			assert.Equal(t, 3, s.TotalPosts())
		})
	}
}

// TestRefreshKeepsRefreshTokenWhenNotRotated: an answer without a
// refresh_token leaves the one that was sent.
func TestRefreshKeepsRefreshTokenWhenNotRotated(t *testing.T) {
	for _, provider := range []string{oauth.Codex, oauth.Nous} {
		t.Run(provider, func(t *testing.T) {
			srv := rawServer(t, http.StatusOK, jsonCT, `{"access_token":"at-SECRET-1","expires_in":"600"}`)
			r := &oauth.Refresher{Overrides: map[string]string{provider: srv}, Now: clock}
			res, err := r.Refresh(context.Background(), oauth.Request{Provider: provider, RefreshToken: "rt-SECRET-old"})
			require.NoError(t, err)
			assert.Equal(t, "at-SECRET-1", res.AccessToken)
			assert.Equal(t, "rt-SECRET-old", res.RefreshToken)
			assert.InDelta(t, epoch.Seconds(now)+600, res.ExpiresAt, 1e-6, "a numeric string expires_in counts")
		})
	}
}

// TestResultExpiry: without expires_in the JWT exp of the new access token
// gives the expiry; an opaque Anthropic token gets Hermes' one hour.
func TestResultExpiry(t *testing.T) {
	for _, tc := range []struct {
		provider string
		want     float64
	}{
		{oauth.Codex, epoch.Seconds(now.Add(6 * time.Hour).Truncate(time.Second))},
		{oauth.XAI, epoch.Seconds(now.Add(6 * time.Hour).Truncate(time.Second))},
		{oauth.Anthropic, epoch.Seconds(now) + 3600},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			s := fake(t)
			s.SetLifetime(6*time.Hour, true)
			res, err := pointedAt(s).Refresh(context.Background(), oauth.Request{Provider: tc.provider, RefreshToken: s.Issue(tc.provider).RefreshToken})
			require.NoError(t, err)
			assert.InDelta(t, tc.want, res.ExpiresAt, 1e-6)
		})
	}
}

// TestDefaultEndpoints refreshes against each provider's real default URL,
// routed to a TLS fake: this pins the table's hosts and paths.
func TestDefaultEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name, provider, portal string
		routed                 []string
		wantHost               string
	}{
		{"codex", oauth.Codex, "", []string{"auth.openai.com"}, "auth.openai.com"},
		{"anthropic", oauth.Anthropic, "", []string{"platform.claude.com", "console.anthropic.com"}, "platform.claude.com"},
		{"xai discovery", oauth.XAI, "", []string{"auth.x.ai"}, "auth.x.ai"},
		{"nous default portal", oauth.Nous, "", []string{"portal.nousresearch.com"}, "portal.nousresearch.com"},
		{"nous named portal", oauth.Nous, "https://portal.nousresearch.com/", []string{"portal.nousresearch.com"}, "portal.nousresearch.com"},
		// A portal outside the allow-list falls back to the real one
		// (evil.example is routed, so reaching the fake proves nothing was
		// sent there).
		{"nous foreign portal", oauth.Nous, "https://evil.example", []string{"portal.nousresearch.com", "evil.example"}, "portal.nousresearch.com"},
		{"nous plain http portal", oauth.Nous, "http://portal.nousresearch.com", []string{"portal.nousresearch.com"}, "portal.nousresearch.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeTLS(t)
			s.SetDiscoveryTokenEndpoint("https://auth.x.ai/oauth2/token")
			r := &oauth.Refresher{HTTPClient: s.Client(tc.routed...), Now: clock}
			res, err := r.Refresh(context.Background(), oauth.Request{
				Provider: tc.provider, RefreshToken: s.Issue(tc.provider).RefreshToken, PortalBaseURL: tc.portal,
			})
			require.NoError(t, err)
			assert.Equal(t, lastIssued(t, s).AccessToken, res.AccessToken)
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, tc.wantHost, reqs[0].Host)
		})
	}
}

// TestNousPortalBaseURL: a loopback portal_base_url is used as it is (local
// development), without an override.
func TestNousPortalBaseURL(t *testing.T) {
	s := fake(t)
	r := &oauth.Refresher{Now: clock}
	login := s.Issue(oauth.Nous)
	_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Nous, RefreshToken: login.RefreshToken, PortalBaseURL: s.URL + "/"})
	require.NoError(t, err)
	assert.Equal(t, 1, s.Posts(login.RefreshToken))
}

// TestAnthropicFallback: the second endpoint is tried after a 404 or when
// the request never reached the first (DNS, connect), never after an
// answer or a request that may have been received (a timeout).
func TestAnthropicFallback(t *testing.T) {
	both := []string{"platform.claude.com", "console.anthropic.com"}
	for _, tc := range []struct {
		name      string
		routed    []string
		failures  []oauthtest.Failure
		wantHosts []string
		wantKind  oauth.Kind
		wantOK    bool
	}{
		{"404 then success", both, []oauthtest.Failure{{Status: http.StatusNotFound}},
			[]string{"platform.claude.com", "console.anthropic.com"}, 0, true},
		{"no connection then success", []string{"console.anthropic.com"}, nil,
			[]string{"console.anthropic.com"}, 0, true},
		{"invalid_grant stands", both, []oauthtest.Failure{oauthtest.InvalidGrant},
			[]string{"platform.claude.com"}, oauth.Terminal, false},
		{"500 stands", both, []oauthtest.Failure{oauthtest.ServerError},
			[]string{"platform.claude.com"}, oauth.Transient, false},
		{"404 at both", both, []oauthtest.Failure{{Status: http.StatusNotFound}, {Status: http.StatusNotFound}},
			[]string{"platform.claude.com", "console.anthropic.com"}, oauth.Transient, false},
		// A malformed success may have spent the token: it stands too.
		{"malformed answer stands", both, []oauthtest.Failure{{Body: `{"access_token":`}},
			[]string{"platform.claude.com"}, oauth.Transient, false},
		// The request was sent: the first host may have spent the token,
		// and sending it to the second would be the replay that revokes
		// the session.
		{"timeout stands", both, []oauthtest.Failure{oauthtest.Slow(time.Hour)},
			[]string{"platform.claude.com"}, oauth.Transient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeTLS(t)
			s.FailNext(tc.failures...)
			r := &oauth.Refresher{HTTPClient: s.Client(tc.routed...), Now: clock, Timeout: time.Second}
			res, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Anthropic, RefreshToken: s.Issue(oauth.Anthropic).RefreshToken})
			var hosts []string
			for _, q := range s.Requests() {
				hosts = append(hosts, q.Host)
			}
			assert.Equal(t, tc.wantHosts, hosts)
			if tc.wantOK {
				require.NoError(t, err)
				assert.Equal(t, lastIssued(t, s).AccessToken, res.AccessToken)
				return
			}
			assert.Equal(t, tc.wantKind, refreshErr(t, err).Kind)
		})
	}
}

// TestRequestErrors: what cannot be sent at all is a plain error, with no
// request made.
func TestRequestErrors(t *testing.T) {
	s := fake(t)
	r := pointedAt(s)
	_, err := r.Refresh(context.Background(), oauth.Request{Provider: "openrouter", RefreshToken: "rt-SECRET"})
	assert.ErrorIs(t, err, oauth.ErrUnsupported)
	noSecret(t, err)
	_, err = r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: "  "})
	assert.ErrorIs(t, err, oauth.ErrNoRefreshToken)
	var e *oauth.Error
	assert.False(t, errors.As(err, &e))
	assert.Zero(t, s.TotalPosts())
}

func TestSupported(t *testing.T) {
	for _, p := range []string{oauth.Codex, oauth.Anthropic, oauth.XAI, oauth.Nous} {
		assert.True(t, oauth.Supported(p), p)
	}
	for _, p := range []string{"", "openrouter", "OPENAI-CODEX", "copilot"} {
		assert.False(t, oauth.Supported(p), p)
	}
}

// TestCallerClientUnchanged: the Refresher puts its redirect policy on a
// copy, not on the caller's client.
func TestCallerClientUnchanged(t *testing.T) {
	s := fake(t)
	c := &http.Client{}
	r := &oauth.Refresher{Overrides: s.Overrides(), HTTPClient: c, Now: clock}
	_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: s.Issue(oauth.Codex).RefreshToken})
	require.NoError(t, err)
	assert.Nil(t, c.CheckRedirect)
	assert.Nil(t, c.Transport)
}
