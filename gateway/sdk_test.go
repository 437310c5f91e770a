package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

func needNode(t *testing.T) {
	t.Helper()
	if err := gt.NodeReady(); err != nil {
		t.Skip("SDK test skipped: " + err.Error())
	}
}

func sdkContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The official SDKs, configured only by their own two variables, talk to
// the gateway as to the provider, through a rotation they never see.
func TestOfficialSDKs(t *testing.T) {
	needNode(t)
	for _, tc := range []struct {
		name, script, pool string
		env                []string
		header             string // where the upstream must find the key
		reason401          string // what the 401 says in the provider's format
	}{
		{"openai", gt.OpenAIScript, "openai", nil, "Authorization", "token_invalidated"},
		{"anthropic with x-api-key", gt.AnthropicScript, "anthropic", nil, "X-Api-Key", "authentication_error"},
		{"anthropic with an auth token", gt.AnthropicScript, "anthropic", []string{"ANTHROPIC_AUTH_TOKEN=" + gwToken}, "X-Api-Key", "authentication_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, []gt.Behaviour{gt.RateLimited, gt.Invalidated, gt.OK})
			res, err := gt.RunScript(sdkContext(t), tc.script, h.url+"/"+tc.pool, gwToken, tc.env...)
			require.NoError(t, err)
			require.Nil(t, res.Error, "%+v", res.Error)
			assert.NotEmpty(t, res.Version)
			assert.Equal(t, gt.Text, res.Text)
			assert.Equal(t, gt.Text, res.StreamText)
			assert.Greater(t, res.StreamEvents, len(gt.StreamPieces))
			// k1 and k2 go out of rotation on the first call; both calls
			// end on k3 (a3).
			reps := reportsOf(h.b.Reports())
			require.Len(t, reps, 4)
			assert.Equal(t, []string{"429", "401", "200", "200"}, []string{reps[0][1], reps[1][1], reps[2][1], reps[3][1]})
			assert.Equal(t, tc.reason401, reps[1][2])
			for _, r := range h.up.Requests() {
				noGatewayToken(t, r.Header)
				assert.NotEmpty(t, r.Header.Get(tc.header))
			}
		})
	}
}

// The SDK's own back-off meets the gateway's 429: with nothing that comes
// back by itself, x-should-retry: false stops it at once.
func TestSDKSeesNoneAvailable(t *testing.T) {
	needNode(t)
	h := newHarness(t, []gt.Behaviour{gt.OK})
	h.b.markDown("openai", 0)
	res, err := gt.RunScript(sdkContext(t), gt.OpenAIScript, h.url+"/openai", gwToken)
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	require.NotNil(t, res.Error.Status)
	assert.Equal(t, http.StatusTooManyRequests, *res.Error.Status)
	assert.Equal(t, "RateLimitError", res.Error.Name)
	assert.Contains(t, res.Error.Message, "none comes back by itself")
	assert.Len(t, h.b.Selects(), 1, "the SDK did not retry against x-should-retry: false")

	res, err = gt.RunScript(sdkContext(t), gt.OpenAIScript, h.url+"/openai", "cpgw-wrong")
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	assert.Equal(t, "AuthenticationError", res.Error.Name)
	assert.Contains(t, res.Error.Message, "gateway token")
}
