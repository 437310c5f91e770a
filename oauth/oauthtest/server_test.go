package oauthtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/oauth/oauthtest"
)

func postForm(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func codexForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {"app_EMoamEEZ73f0CkXaXp7hrann"}, "refresh_token": {rt}}
}

// TestStampede: many clients spend one refresh token at once; exactly one
// wins, the rest hear refresh_token_reused, and every POST is counted.
func TestStampede(t *testing.T) {
	s := oauthtest.New(t)
	login := s.Issue("openai-codex")
	const n = 64
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i], _ = postForm(t, http.DefaultClient, s.TokenURL("openai-codex"), codexForm(login.RefreshToken), nil)
		})
	}
	wg.Wait()
	won := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK:
			won++
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d", st)
		}
	}
	assert.Equal(t, 1, won)
	assert.Equal(t, n, s.Posts(login.RefreshToken))
	assert.Equal(t, n, s.TotalPosts())
	assert.Len(t, s.Issued(), 2, "the login and the one winner")
}

// TestTokens: issued tokens carry the marker, rotate, and a codex access
// token is a JWT with exp from the fake's clock.
func TestTokens(t *testing.T) {
	s := oauthtest.New(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.SetClock(func() time.Time { return start })
	login := s.Issue("openai-codex")
	status, body := postForm(t, http.DefaultClient, s.TokenURL("openai-codex"), codexForm(login.RefreshToken), nil)
	require.Equal(t, http.StatusOK, status)
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		assert.Contains(t, body[k], oauthtest.Marker, k)
	}
	assert.NotEqual(t, login.RefreshToken, body["refresh_token"])
	assert.Equal(t, 3600.0, body["expires_in"])
	parts := strings.Split(body["access_token"].(string), ".")
	require.Len(t, parts, 3)
	assert.Contains(t, decode(t, parts[1]), `"exp":`+"1767326645")
}

func decode(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	return string(b)
}

// TestFormatChecked: requests in the wrong format are invalid_request and
// spend nothing.
func TestFormatChecked(t *testing.T) {
	s := oauthtest.New(t)
	codex := s.Issue("openai-codex")
	nous := s.Issue("nous")
	for _, tc := range []struct {
		name   string
		url    string
		form   url.Values
		header http.Header
	}{
		{"codex wrong client", s.TokenURL("openai-codex"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"x"}, "refresh_token": {codex.RefreshToken}}, nil},
		{"codex wrong grant", s.TokenURL("openai-codex"), url.Values{"grant_type": {"authorization_code"}, "client_id": {"app_EMoamEEZ73f0CkXaXp7hrann"}, "refresh_token": {codex.RefreshToken}}, nil},
		{"codex client secret in a header", s.TokenURL("openai-codex"), codexForm(codex.RefreshToken), http.Header{"Authorization": {"Basic eDo="}}},
		{"nous token in the body", s.TokenURL("nous"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"hermes-cli"}, "refresh_token": {nous.RefreshToken}},
			http.Header{"X-Nous-Refresh-Token": {nous.RefreshToken}}},
		{"nous no header", s.TokenURL("nous"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"hermes-cli"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postForm(t, http.DefaultClient, tc.url, tc.form, tc.header)
			assert.Equal(t, http.StatusBadRequest, status)
			errField := body["error"]
			if m, ok := errField.(map[string]any); ok {
				errField = m["code"]
			}
			assert.Equal(t, "invalid_request", errField)
		})
	}
	status, _ := postForm(t, http.DefaultClient, s.TokenURL("nous"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"hermes-cli"}},
		http.Header{"X-Nous-Refresh-Token": {nous.RefreshToken}})
	assert.Equal(t, http.StatusOK, status, "the right format still works: nothing was spent")
	status, _ = postForm(t, http.DefaultClient, s.TokenURL("openai-codex"), codexForm(codex.RefreshToken), nil)
	assert.Equal(t, http.StatusOK, status)

	req, err := http.NewRequest(http.MethodPost, s.TokenURL("openai-codex"), strings.NewReader(`{"grant_type":"refresh_token"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "codex takes no JSON")
}

// TestSlowHonoursCancel: a delayed answer ends when the client gives up.
func TestSlowHonoursCancel(t *testing.T) {
	s := oauthtest.New(t)
	s.FailNext(oauthtest.Slow(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL("openai-codex"), strings.NewReader(codexForm("x").Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Eventually(t, func() bool {
		r := s.Requests()
		return len(r) == 1 && r[0].Cancelled
	}, 5*time.Second, time.Millisecond)
}

// TestDiscovery: the document points at the fake itself unless told
// otherwise.
func TestDiscovery(t *testing.T) {
	s := oauthtest.New(t)
	get := func() map[string]any {
		resp, err := http.Get(s.DiscoveryURL())
		require.NoError(t, err)
		defer resp.Body.Close()
		var doc map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		return doc
	}
	assert.Equal(t, s.TokenURL("xai-oauth"), get()["token_endpoint"])
	s.SetDiscoveryTokenEndpoint("https://auth.x.ai/oauth2/token")
	assert.Equal(t, "https://auth.x.ai/oauth2/token", get()["token_endpoint"])
}

// TestClientRouting: the TLS fake's client reaches the fake under a routed
// host's name and refuses every other host.
func TestClientRouting(t *testing.T) {
	s := oauthtest.NewTLS(t)
	c := s.Client("auth.openai.com")
	login := s.Issue("openai-codex")
	status, _ := postForm(t, c, "https://auth.openai.com/oauth/token", codexForm(login.RefreshToken), nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "auth.openai.com", s.Requests()[0].Host)
	_, err := c.Post("https://example.org/oauth/token", "text/plain", nil)
	assert.ErrorContains(t, err, "not routed")
}

func TestOverrideString(t *testing.T) {
	s := oauthtest.New(t)
	parts := strings.Split(s.OverrideString(), ",")
	assert.Len(t, parts, len(s.Overrides()))
	for _, p := range parts {
		name, u, ok := strings.Cut(p, "=")
		require.True(t, ok)
		assert.Equal(t, s.Overrides()[name], u)
	}
}

// owner is a TB that is no testing.TB, as credpool-bench's is.
type owner struct{ cleanups []func() }

func (o *owner) Helper()          {}
func (o *owner) Cleanup(f func()) { o.cleanups = append(o.cleanups, f) }

// A program may own the fake: it serves until the owner runs the
// cleanups, and not after.
func TestOwnerNeedNotBeATest(t *testing.T) {
	o := &owner{}
	s := oauthtest.New(o)
	login := s.Issue("openai-codex")
	status, body := postForm(t, http.DefaultClient, s.TokenURL("openai-codex"), codexForm(login.RefreshToken), nil)
	assert.Equal(t, http.StatusOK, status, body)
	require.NotEmpty(t, o.cleanups)
	for _, f := range o.cleanups {
		f()
	}
	_, err := http.Post(s.TokenURL("openai-codex"), "application/x-www-form-urlencoded", nil)
	assert.Error(t, err, "closed once the owner cleaned up")
}
