package oauthtest

import (
	"fmt"
	"net/http"
)

// contract is one provider's side of the refresh exchange. It is written
// here, independently of package oauth, on purpose: the fake stands for the
// remote service, so a wrong client id or header name in oauth fails the
// tests instead of agreeing with itself.
type contract struct {
	provider     string
	path         string
	clientID     string
	acceptsJSON  bool   // anthropic also takes the fields as a JSON body
	header       string // nous: the refresh token travels in this header, not in the body
	nestedErrors bool   // openai: {"error": {"code": …, "message": …}}
	reuseStatus  int    // status of a refresh_token_reused answer
	jwtAccess    bool   // access tokens are JWTs with an exp claim
	idToken      bool   // answers carry an id_token
	extra        map[string]string
}

var contracts = []contract{
	{provider: "openai-codex", path: "/oauth/token", clientID: "app_EMoamEEZ73f0CkXaXp7hrann",
		nestedErrors: true, reuseStatus: http.StatusUnauthorized, jwtAccess: true, idToken: true},
	{provider: "anthropic", path: "/v1/oauth/token", clientID: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
		acceptsJSON: true, reuseStatus: http.StatusBadRequest,
		extra: map[string]string{"scope": "user:inference user:profile"}},
	{provider: "xai-oauth", path: "/oauth2/token", clientID: "b1a00492-073a-47ea-816f-4c329264a828",
		reuseStatus: http.StatusBadRequest, jwtAccess: true, idToken: true},
	{provider: "nous", path: "/api/oauth/token", clientID: "hermes-cli", header: "x-nous-refresh-token",
		reuseStatus: http.StatusBadRequest, jwtAccess: true,
		extra: map[string]string{"scope": "inference:invoke", "inference_base_url": "https://inference-api.nousresearch.com/v1"}},
}

// DiscoveryPath serves xAI's OpenID configuration.
const DiscoveryPath = "/.well-known/openid-configuration"

func contractFor(provider string) *contract {
	for i := range contracts {
		if contracts[i].provider == provider {
			return &contracts[i]
		}
	}
	panic(fmt.Sprintf("oauthtest: unknown provider %q", provider))
}
