package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
)

func TestParseOverrides(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"one", "openai-codex=https://auth.example.com/oauth/token",
			map[string]string{"openai-codex": "https://auth.example.com/oauth/token"}},
		{"several, spaces, trailing comma",
			" anthropic = http://127.0.0.1:8080/v1/oauth/token , nous=http://localhost:9/api/oauth/token,xai-oauth=http://[::1]:7/t,",
			map[string]string{
				"anthropic": "http://127.0.0.1:8080/v1/oauth/token",
				"nous":      "http://localhost:9/api/oauth/token",
				"xai-oauth": "http://[::1]:7/t",
			}},
		{"any 127/8 address", "nous=http://127.5.6.7/x", map[string]string{"nous": "http://127.5.6.7/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauth.ParseOverrides(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseOverridesRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		is       error
		mention  string
	}{
		{"unknown provider", "openrouter=https://x.example/t", oauth.ErrUnsupported, `"openrouter"`},
		{"no equals", "https://x.example/t", nil, "item 1"},
		{"no url", "nous=", nil, "item 1"},
		{"twice", "nous=https://a.example/t,nous=https://b.example/t", nil, `"nous" given twice`},
		{"plain http elsewhere", "openai-codex=http://example.com/token", oauth.ErrEndpoint, `"openai-codex"`},
		{"plain http to a lookalike", "openai-codex=http://localhost.example.com/token", oauth.ErrEndpoint, "loopback"},
		{"plain http to 128.0.0.1", "openai-codex=http://128.0.0.1/token", oauth.ErrEndpoint, "loopback"},
		{"other scheme", "anthropic=ftp://127.0.0.1/t", oauth.ErrEndpoint, "https"},
		{"relative", "anthropic=/v1/oauth/token", oauth.ErrEndpoint, "absolute"},
		{"user info", "anthropic=https://user:pw-SECRET@auth.example.com/t", oauth.ErrEndpoint, "user info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oauth.ParseOverrides(tc.in)
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Contains(t, err.Error(), tc.mention)
			assert.NotContains(t, err.Error(), "example.com", "the URL is not quoted")
			noSecret(t, err)
		})
	}
}

// TestOverrideRefusedAtRefresh: an override set directly, not through
// ParseOverrides, passes the same rule before anything is sent.
func TestOverrideRefusedAtRefresh(t *testing.T) {
	r := &oauth.Refresher{Overrides: map[string]string{oauth.Codex: "http://example.com/token"}}
	_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: "rt-SECRET-1"})
	assert.ErrorIs(t, err, oauth.ErrEndpoint)
	var e *oauth.Error
	assert.False(t, errors.As(err, &e), "a configuration error is not a verdict on the credential")
	noSecret(t, err)
}

// TestDiscoveryRefused: a discovered xAI token endpoint that is not https on
// x.ai is refused before the refresh token is sent. Every host named is
// routed to the fake, so only the rule can have stopped the POST.
func TestDiscoveryRefused(t *testing.T) {
	s := fakeTLS(t)
	for _, tc := range []struct{ name, endpoint string }{
		{"plain http on x.ai", "http://auth.x.ai/oauth2/token"},
		{"another host", "https://evil.example/oauth2/token"},
		{"x.ai as a prefix", "https://auth.x.ai.evil.example/oauth2/token"},
		{"x.ai without the dot", "https://evilx.ai/oauth2/token"},
		{"the fake itself", s.URL + "/oauth2/token"},
		{"not a URL", "oauth2/token"},
		{"missing", " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetDiscoveryTokenEndpoint(tc.endpoint)
			r := &oauth.Refresher{HTTPClient: s.Client("auth.x.ai", "evil.example", "auth.x.ai.evil.example", "evilx.ai"), Now: clock}
			_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.XAI, RefreshToken: s.Issue(oauth.XAI).RefreshToken})
			e := refreshErr(t, err)
			assert.Equal(t, oauth.Transient, e.Kind)
			assert.Contains(t, e.Reason, "discovery")
			assert.Zero(t, s.TotalPosts())
		})
	}
}

// TestDiscoveryUnreachable: no discovery, no refresh, and a Transient error.
func TestDiscoveryUnreachable(t *testing.T) {
	s := fakeTLS(t)
	r := &oauth.Refresher{HTTPClient: s.Client(), Now: clock}
	_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.XAI, RefreshToken: s.Issue(oauth.XAI).RefreshToken})
	e := refreshErr(t, err)
	assert.Equal(t, oauth.Transient, e.Kind)
	assert.Equal(t, "discovery: connect failed", e.Reason)
}

// TestRedirects: a redirect to another host (another port counts) is not
// followed and the refresh token stays unspent; one to the same endpoint is.
func TestRedirects(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			s, other := fake(t), fake(t)
			r := pointedAt(s)
			login := s.Issue(oauth.Codex)
			s.FailNext(oauthtest.Redirect(status, other.TokenURL(oauth.Codex)))
			_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: login.RefreshToken})
			e := refreshErr(t, err)
			assert.Equal(t, oauth.Transient, e.Kind)
			assert.ErrorIs(t, err, oauth.ErrRedirect)
			assert.Zero(t, other.TotalPosts())
			assert.Equal(t, 1, s.Posts(login.RefreshToken))

			_, err = r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: login.RefreshToken})
			require.NoError(t, err, "the refused redirect spent nothing")
		})
	}
	t.Run("same endpoint", func(t *testing.T) {
		s := fake(t)
		login := s.Issue(oauth.Codex)
		s.FailNext(oauthtest.Redirect(http.StatusTemporaryRedirect, s.TokenURL(oauth.Codex)))
		res, err := pointedAt(s).Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: login.RefreshToken})
		require.NoError(t, err)
		assert.Equal(t, lastIssued(t, s).AccessToken, res.AccessToken)
		assert.Equal(t, 2, s.Posts(login.RefreshToken))
	})
	t.Run("anthropic does not fall back after a refused redirect", func(t *testing.T) {
		s, other := fakeTLS(t), fake(t)
		s.FailNext(oauthtest.Redirect(http.StatusTemporaryRedirect, other.TokenURL(oauth.Anthropic)))
		r := &oauth.Refresher{HTTPClient: s.Client("platform.claude.com", "console.anthropic.com"), Now: clock}
		_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Anthropic, RefreshToken: s.Issue(oauth.Anthropic).RefreshToken})
		assert.ErrorIs(t, err, oauth.ErrRedirect)
		assert.Len(t, s.Requests(), 1)
	})
}
