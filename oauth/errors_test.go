package oauth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
)

var allProviders = []struct{ provider, source string }{
	{oauth.Codex, ""},
	{oauth.Anthropic, "claude_code"},
	{oauth.Anthropic, "hermes_pkce"},
	{oauth.XAI, ""},
	{oauth.Nous, ""},
}

// TestClassification: each answer of the token endpoint gets its Kind,
// status, code and Retry-After, for every provider and request format, and
// no error text carries a token (the fake echoes the refresh token in every
// error body).
func TestClassification(t *testing.T) {
	httpDate := now.Add(90 * time.Second).Format(http.TimeFormat)
	common := []struct {
		name       string
		failure    oauthtest.Failure
		kind       oauth.Kind
		status     int
		code       string
		retryAfter float64
	}{
		{"invalid_grant", oauthtest.InvalidGrant, oauth.Terminal, 400, "invalid_grant", 0},
		{"refresh_token_reused", oauthtest.Reused, oauth.Terminal, 400, "refresh_token_reused", 0},
		{"invalid_token", oauthtest.Failure{Status: 401, Code: "invalid_token"}, oauth.Terminal, 401, "invalid_token", 0},
		{"unauthorized_client", oauthtest.Failure{Status: 400, Code: "unauthorized_client"}, oauth.Terminal, 400, "unauthorized_client", 0},
		{"invalid_grant in a 200", oauthtest.Failure{Status: 200, Code: "invalid_grant"}, oauth.Terminal, 200, "invalid_grant", 0},
		{"reuse in the description", oauthtest.Failure{Status: 400, Code: "invalid_request", Message: "Refresh token reuse detected"}, oauth.Terminal, 400, "invalid_request", 0},
		{"429 delta seconds", oauthtest.RateLimited("17"), oauth.RateLimited, 429, "rate_limited", 17},
		{"429 http date", oauthtest.RateLimited(httpDate), oauth.RateLimited, 429, "rate_limited", 90},
		{"429 bare", oauthtest.RateLimited(""), oauth.RateLimited, 429, "rate_limited", 0},
		{"429 garbage retry-after", oauthtest.RateLimited("soon"), oauth.RateLimited, 429, "rate_limited", 0},
		{"500", oauthtest.ServerError, oauth.Transient, 500, "", 0},
		{"503", oauthtest.Failure{Status: 503}, oauth.Transient, 503, "", 0},
		{"an error code that echoes the token is dropped", oauthtest.Failure{Status: 400, Code: "rt-SECRET-echo"}, oauth.Transient, 400, "", 0},
	}
	for _, p := range allProviders {
		for _, tc := range common {
			if p.provider == oauth.XAI && tc.status == 400 && tc.kind == oauth.Transient {
				continue // every xAI 400 is terminal: TestProviderStatusRules
			}
			t.Run(p.provider+" "+p.source+" "+tc.name, func(t *testing.T) {
				s := fake(t)
				s.FailNext(tc.failure)
				_, err := pointedAt(s).Refresh(context.Background(), oauth.Request{Provider: p.provider, RefreshToken: s.Issue(p.provider).RefreshToken, Source: p.source})
				e := refreshErr(t, err)
				if p.provider == oauth.Codex && tc.status == 200 {
					// x/oauth2 cannot read OpenAI's nested error shape in a
					// success answer; it is a malformed answer, not a verdict.
					assert.Equal(t, oauth.Transient, e.Kind)
					return
				}
				assert.Equal(t, tc.kind, e.Kind, e.Error())
				assert.Equal(t, tc.status, e.Status)
				assert.Equal(t, tc.code, e.Code)
				assert.InDelta(t, tc.retryAfter, e.RetryAfter, 1e-9)
				assert.Equal(t, p.provider, e.Provider)
			})
		}
	}
}

// TestProviderStatusRules: statuses that decide by themselves, per Hermes:
// Codex's 401/403 are always terminal; xAI's 400/401 are, its 403 (a tier
// gate) is not; elsewhere a bare 4xx is not.
func TestProviderStatusRules(t *testing.T) {
	for _, tc := range []struct {
		provider string
		status   int
		code     string
		kind     oauth.Kind
	}{
		{oauth.Codex, 401, "", oauth.Terminal},
		{oauth.Codex, 403, "forbidden", oauth.Terminal},
		{oauth.Codex, 400, "invalid_request", oauth.Transient},
		{oauth.XAI, 400, "invalid_request", oauth.Terminal},
		{oauth.XAI, 401, "", oauth.Terminal},
		{oauth.XAI, 403, "access_denied", oauth.Transient},
		{oauth.Anthropic, 401, "", oauth.Transient},
		{oauth.Anthropic, 403, "forbidden", oauth.Transient},
		{oauth.Nous, 403, "forbidden", oauth.Transient},
		{oauth.Nous, 404, "", oauth.Transient},
	} {
		t.Run(tc.provider+" "+http.StatusText(tc.status), func(t *testing.T) {
			s := fake(t)
			s.FailNext(oauthtest.Failure{Status: tc.status, Code: tc.code})
			_, err := pointedAt(s).Refresh(context.Background(), oauth.Request{Provider: tc.provider, RefreshToken: s.Issue(tc.provider).RefreshToken})
			e := refreshErr(t, err)
			assert.Equal(t, tc.kind, e.Kind)
			assert.Equal(t, tc.status, e.Status)
		})
	}
}

// TestTimeoutAndCancel: a slow endpoint is Transient "timeout" once the
// Refresher's timeout passes; a caller's cancel is Transient "canceled".
// The fake's hour-long delay ends with the request.
func TestTimeoutAndCancel(t *testing.T) {
	for _, p := range allProviders {
		t.Run(p.provider+" "+p.source+" timeout", func(t *testing.T) {
			s := fake(t)
			s.Fail(oauthtest.Slow(time.Hour))
			r := pointedAt(s)
			r.Timeout = 30 * time.Millisecond
			_, err := r.Refresh(context.Background(), oauth.Request{Provider: p.provider, RefreshToken: s.Issue(p.provider).RefreshToken, Source: p.source})
			e := refreshErr(t, err)
			assert.Equal(t, oauth.Transient, e.Kind)
			assert.Equal(t, "timeout", e.Reason)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Zero(t, e.Status)
		})
	}
	t.Run("cancel", func(t *testing.T) {
		s := fake(t)
		s.Fail(oauthtest.Slow(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for len(s.Requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := pointedAt(s).Refresh(ctx, oauth.Request{Provider: oauth.Codex, RefreshToken: s.Issue(oauth.Codex).RefreshToken})
		e := refreshErr(t, err)
		assert.Equal(t, oauth.Transient, e.Kind)
		assert.Equal(t, "canceled", e.Reason)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// TestNoConnection: nothing listening is Transient.
func TestNoConnection(t *testing.T) {
	for _, p := range allProviders {
		t.Run(p.provider+" "+p.source, func(t *testing.T) {
			r := &oauth.Refresher{Overrides: map[string]string{p.provider: "http://127.0.0.1:1/token"}, Now: clock}
			_, err := r.Refresh(context.Background(), oauth.Request{Provider: p.provider, RefreshToken: "rt-SECRET-1", Source: p.source})
			e := refreshErr(t, err)
			assert.Equal(t, oauth.Transient, e.Kind)
			assert.Equal(t, "connect failed", e.Reason)
		})
	}
}

// TestMalformedAnswers: a success status with a body that is no token is
// Transient, and none of the body shows in the error.
func TestMalformedAnswers(t *testing.T) {
	for _, body := range []struct{ name, contentType, body string }{
		{"not json", "application/json", `{"access_token": "at-SECRET-1`},
		{"html", "text/html", `<html>at-SECRET-1</html>`},
		{"no access token", "application/json", `{"refresh_token":"rt-SECRET-2","expires_in":60}`},
		{"blank access token", "application/json", `{"access_token":"  ","refresh_token":"rt-SECRET-2"}`},
		{"form with no access token", "application/x-www-form-urlencoded", `refresh_token=rt-SECRET-2`},
	} {
		for _, p := range allProviders {
			t.Run(body.name+" "+p.provider+" "+p.source, func(t *testing.T) {
				srv := rawServer(t, http.StatusOK, body.contentType, body.body)
				r := &oauth.Refresher{Overrides: map[string]string{p.provider: srv}, Now: clock}
				_, err := r.Refresh(context.Background(), oauth.Request{Provider: p.provider, RefreshToken: "rt-SECRET-1", Source: p.source})
				e := refreshErr(t, err)
				assert.Equal(t, oauth.Transient, e.Kind)
				assert.Equal(t, 0, e.Status)
			})
		}
	}
}

// TestErrorBodiesNeverQuoted: an error answer in the shape x/oauth2 cannot
// parse (OpenAI's nested error, HTML) is classified from its status and
// code, and its text is not kept.
func TestErrorBodiesNeverQuoted(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
		kind                    oauth.Kind
	}{
		{"nested code", "application/json", `{"error":{"code":"refresh_token_expired","message":"token rt-SECRET-1 expired"}}`, 401, "refresh_token_expired", oauth.Terminal},
		{"nested type only", "application/json", `{"error":{"type":"invalid_request_error","message":"rt-SECRET-1"}}`, 400, "invalid_request_error", oauth.Transient},
		{"html", "text/html", `<html>rt-SECRET-1</html>`, 502, "", oauth.Transient},
		{"plain text", "text/plain", `error=invalid_grant&error_description=rt-SECRET-1`, 400, "invalid_grant", oauth.Terminal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rawServer(t, tc.status, tc.contentType, tc.body)
			r := &oauth.Refresher{Overrides: map[string]string{oauth.Codex: srv}, Now: clock}
			_, err := r.Refresh(context.Background(), oauth.Request{Provider: oauth.Codex, RefreshToken: "rt-SECRET-1"})
			e := refreshErr(t, err)
			assert.Equal(t, tc.kind, e.Kind)
			assert.Equal(t, tc.status, e.Status)
			assert.Equal(t, tc.code, e.Code)
		})
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *oauth.Error
		want string
	}{
		{&oauth.Error{Provider: "anthropic", Kind: oauth.Terminal, Status: 400, Code: "invalid_grant"},
			"oauth: anthropic refresh: terminal (HTTP 400, invalid_grant)"},
		{&oauth.Error{Provider: "openai-codex", Kind: oauth.RateLimited, Status: 429, RetryAfter: 17.5},
			"oauth: openai-codex refresh: rate limited (HTTP 429, retry after 17.5s)"},
		{&oauth.Error{Provider: "nous", Kind: oauth.Transient, Reason: "timeout"},
			"oauth: nous refresh: transient (timeout)"},
		{&oauth.Error{Provider: "nous"}, "oauth: nous refresh: transient"},
	} {
		assert.Equal(t, tc.want, tc.err.Error())
	}
	require.Equal(t, "terminal", oauth.Terminal.String())
}
