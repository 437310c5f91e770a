package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelOf(t *testing.T) {
	huge := strings.Repeat("x", modelScan)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"openai", chatBody, "gpt-test"},
		{"model last", `{"messages":[{"role":"user","content":"a \"model\": \"no\""}],"model":"m2"}`, "m2"},
		{"nested model is not it", `{"metadata":{"model":"inner"}}`, ""},
		{"no body", ``, ""},
		{"not JSON", `model=gpt`, ""},
		{"array", `[{"model":"x"}]`, ""},
		{"model not a string", `{"model":7}`, ""},
		{"model first, huge rest", `{"model":"big","input":"` + huge + `"}`, "big"},
		{"model after the first MiB", `{"input":"` + huge + `","model":"late"}`, ""},
		{"truncated JSON before model", `{"a":1,`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, modelOf([]byte(tc.body)))
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason, msg string
	}{
		{"openai code", `{"error":{"message":"Rate limit","type":"requests","code":"rate_limit_exceeded"}}`, "rate_limit_exceeded", "Rate limit"},
		{"openai null code", `{"error":{"message":"Bad","type":"invalid_request_error","code":null}}`, "invalid_request_error", "Bad"},
		{"numeric code", `{"error":{"message":"Nope","code":429}}`, "", "Nope"},
		{"code only", `{"error":{"code":"token_invalidated"}}`, "token_invalidated", ""},
		{"anthropic", `{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}`, "rate_limit_error", "Slow down"},
		{"string error", `{"error":"quota gone"}`, "", "quota gone"},
		{"message", `{"message":"usage limit"}`, "", "usage limit"},
		{"detail", `{"detail":"Unauthorized"}`, "", "Unauthorized"},
		{"null error", `{"error":null,"message":"m"}`, "", "m"},
		{"html", `<html>502</html>`, "", ""},
		{"empty", ``, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, m := parseErrorBody([]byte(tc.body))
			assert.Equal(t, tc.reason, r)
			assert.Equal(t, tc.msg, m)
		})
	}
	long := `{"error":{"message":"` + strings.Repeat("é", 2000) + `"}}`
	_, m := parseErrorBody([]byte(long))
	assert.LessOrEqual(t, len(m), maxReportMessage+len("…"))
	assert.True(t, strings.HasSuffix(m, "…"))
}

// One function decides the dialect, and both error formats are what the
// SDKs parse.
func TestErrorFormats(t *testing.T) {
	assert.Equal(t, dialectAnthropic, dialectOf("anthropic"))
	assert.Equal(t, dialectAnthropic, dialectOf("anthropic-work"))
	for _, p := range []string{"openai", "openai-codex", "openrouter", "custom:together.ai", "anthropicish", ""} {
		assert.Equal(t, dialectOpenAI, dialectOf(p), p)
	}
	e := &apiError{status: http.StatusTooManyRequests, code: "no_credential_available", message: "m"}
	var oa map[string]map[string]string
	require.NoError(t, json.Unmarshal(dialectOpenAI.errorBody(e), &oa))
	assert.Equal(t, map[string]map[string]string{"error": {"message": "m", "type": "rate_limit_error", "code": "no_credential_available"}}, oa)
	var an map[string]any
	require.NoError(t, json.Unmarshal(dialectAnthropic.errorBody(e), &an))
	assert.Equal(t, map[string]any{"type": "error", "error": map[string]any{"type": "rate_limit_error", "message": "m"}}, an)
}
