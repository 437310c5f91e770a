// Package oauth refreshes OAuth access tokens with each provider's token
// endpoint: openai-codex, anthropic, xai-oauth and nous. It owns the HTTP
// exchange and each provider's request and answer formats, classifies what
// went wrong (Terminal, RateLimited, Transient), says when a token is due for
// a refresh, and keeps Hermes' ledger of spent Anthropic refresh tokens.
//
// It knows nothing of the pool or of auth.json: the daemon decides when to
// refresh, single-flights it, holds auth.lock and writes the result back.
package oauth

import (
	"strings"
	"time"
)

// Provider names, as auth.json's credential_pool keys them.
const (
	Codex     = "openai-codex"
	Anthropic = "anthropic"
	XAI       = "xai-oauth"
	Nous      = "nous"
)

// style is how a provider's refresh request is written.
type style int

const (
	// styleRFC is RFC 6749 §6: a form-encoded grant_type=refresh_token with
	// refresh_token and client_id in the body, sent through x/oauth2.
	styleRFC style = iota
	// styleAnthropic is styleRFC, except that logins Hermes made itself
	// (source "hermes_pkce") refresh with the same fields as a JSON body.
	styleAnthropic
	// styleNous carries the refresh token in a header, not in the body.
	styleNous
)

// provider is everything credpool knows about one provider's token endpoint.
// This table is the one place these facts live.
type provider struct {
	clientID string
	style    style
	// tokenURLs are tried in order; the next one only after a transport
	// error or a 404 from the one before (Anthropic moved hosts).
	tokenURLs []string
	// discoveryURL, when set, is an OpenID configuration whose
	// token_endpoint is the token URL; discoveredHost must accept its host.
	discoveryURL   string
	discoveredHost func(host string) bool
	// portal is the default base URL of a provider whose token URL hangs
	// off a per-login portal_base_url (nous); portalHost says which portal
	// hosts a login may name (a loopback host is always accepted).
	portal     string
	portalHost func(host string) bool
	tokenPath  string
	// terminalStatus are HTTP statuses that kill the credential whatever the
	// error code says.
	terminalStatus []int
	// defaultLifetime is assumed when an answer carries no expires_in and the
	// access token is no JWT (0: the expiry stays unknown).
	defaultLifetime time.Duration
}

var providers = map[string]*provider{
	// Codex: a 401 or 403 from the token endpoint always means the refresh
	// token is invalid, whatever the body says (Hermes
	// refresh_codex_oauth_pure).
	Codex: {
		clientID:       "app_EMoamEEZ73f0CkXaXp7hrann",
		style:          styleRFC,
		tokenURLs:      []string{"https://auth.openai.com/oauth/token"},
		terminalStatus: []int{401, 403},
	},
	// Anthropic answers expires_in; Hermes assumes an hour when it is
	// missing, and its access tokens are opaque (no JWT exp to read).
	Anthropic: {
		clientID: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
		style:    styleAnthropic,
		tokenURLs: []string{
			"https://platform.claude.com/v1/oauth/token",
			"https://console.anthropic.com/v1/oauth/token",
		},
		defaultLifetime: time.Hour,
	},
	// xAI: the token endpoint comes from OIDC discovery and must be https
	// on x.ai, so that one poisoned discovery cannot send every later
	// refresh token elsewhere. A 400 or 401 is terminal; a 403 is a
	// subscription-tier gate that a new login does not lift, so it is not.
	XAI: {
		clientID:       "b1a00492-073a-47ea-816f-4c329264a828",
		style:          styleRFC,
		discoveryURL:   "https://auth.x.ai/.well-known/openid-configuration",
		discoveredHost: isXAIHost,
		terminalStatus: []int{400, 401},
	},
	// Nous: the token URL is {portal_base_url}/api/oauth/token. A login
	// naming a portal outside the allow-list refreshes with the default
	// portal instead, as Hermes does: the refresh token then goes only to
	// its real home.
	Nous: {
		clientID:   "hermes-cli",
		style:      styleNous,
		portal:     "https://portal.nousresearch.com",
		portalHost: func(h string) bool { return h == "portal.nousresearch.com" },
		tokenPath:  "/api/oauth/token",
	},
}

// nousRefreshHeader carries the nous refresh token.
const nousRefreshHeader = "x-nous-refresh-token"

// hermesPKCESource marks an Anthropic login Hermes made itself; those
// refresh with a JSON body.
const hermesPKCESource = "hermes_pkce"

// Supported reports whether Refresh knows the provider's token endpoint.
func Supported(provider string) bool {
	_, ok := providers[provider]
	return ok
}

func isXAIHost(host string) bool {
	host = strings.ToLower(host)
	return host == "x.ai" || strings.HasSuffix(host, ".x.ai")
}
