package extlogin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFingerprintIsHermesSecretFingerprint(t *testing.T) {
	// Python: "sha256:" + hashlib.sha256(b"sk-proj-SECRET-1").hexdigest()[:16]
	l := Login{AccessToken: "sk-proj-SECRET-1"}
	assert.Equal(t, "sha256:6698d530dfd57edc", l.Fingerprint())
	assert.Equal(t, "", Login{RefreshToken: "SECRET"}.Fingerprint(), "no access token, no fingerprint")
}

func TestLoginNeverPrintsSecrets(t *testing.T) {
	l := Login{
		Source: SourceClaude, Provider: ProviderAnthropic, AuthType: AuthOAuth,
		AccessToken: "sk-ant-oat01-SECRET-a", RefreshToken: "sk-ant-ort01-SECRET-r", IDToken: "id.SECRET.sig",
		AccountID: "acct-1", Label: "claude_code (max)", ExpiresAt: 1893456000,
	}
	u := Update{Source: l.Source, Login: l, Err: errors.New("some error")}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("login", "login", l, "update", u)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("login", "login", l, "ptr", &l)
	marshalled, err := json.Marshal(map[string]any{"login": l, "update": u})
	require.NoError(t, err)

	outputs := map[string]string{
		"Sprint":      fmt.Sprint(l),
		"%v":          fmt.Sprintf("%v", l),
		"%+v":         fmt.Sprintf("%+v", l),
		"%#v":         fmt.Sprintf("%#v", l),
		"%s":          fmt.Sprintf("[%s]", l),
		"%q":          fmt.Sprintf("%q", l),
		"pointer %+v": fmt.Sprintf("%+v", &l),
		"update %+v":  fmt.Sprintf("%+v", u),
		"update %#v":  fmt.Sprintf("%#v", u),
		"slice":       fmt.Sprint([]Login{l}),
		"slog text":   text.String(),
		"slog json":   js.String(),
		"json":        string(marshalled),
	}
	for name, out := range outputs {
		assert.NotContains(t, out, secret, name)
		assert.Contains(t, out, l.Fingerprint(), name+" shows the fingerprint instead")
	}
	assert.Contains(t, outputs["%+v"], "claude_code (max)")
}
