package socketapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
)

// TestRequestLimits: a select's and a report's model, and a select's
// exclude ids, are held to one rule (characters, not bytes; printable),
// and a whole-number field says so when it gets a fraction.
func TestRequestLimits(t *testing.T) {
	ts := startServer(t, newFake(), ServerOptions{})
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	ids := func(n int) string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%q", fmt.Sprintf("%06x", i))
		}
		return "[" + strings.Join(out, ",") + "]"
	}
	model200 := strings.Repeat("é", maxModel) // 400 bytes, 200 characters
	tests := []struct {
		name, path, body string
		status           int
		msg              string // the 400 message, exactly
	}{
		{"report model of 200 characters", "report", `{"status_code":429,"model":` + quoted(model200) + `}`, 200, ""},
		{"report model of 201 characters", "report", `{"status_code":429,"model":` + quoted(model200+"x") + `}`, 400,
			"model must be at most 200 characters, with no control or bidirectional-override character"},
		{"report model with a newline", "report", `{"status_code":429,"model":"gpt\n4"}`, 400,
			"model must be at most 200 characters, with no control or bidirectional-override character"},
		{"report model with a bidi override", "report", `{"status_code":429,"model":"gpt\u202e4"}`, 400,
			"model must be at most 200 characters, with no control or bidirectional-override character"},
		{"select model of 200 characters", "select", `{"model":` + quoted(model200) + `}`, 200, ""},
		{"select model of 201 characters", "select", `{"model":` + quoted(model200+"x") + `}`, 400,
			"model must be at most 200 characters, with no control or bidirectional-override character"},
		{"select model with a control character", "select", `{"model":"gpt\u00854"}`, 400,
			"model must be at most 200 characters, with no control or bidirectional-override character"},
		{"64 exclude ids", "select", `{"exclude":` + ids(maxExclude) + `}`, 200, ""},
		{"65 exclude ids", "select", `{"exclude":` + ids(maxExclude+1) + `}`, 400, "exclude lists more than 64 ids"},
		{"an exclude id of 64 characters", "select", `{"exclude":["a1b2c3",` + quoted(strings.Repeat("é", maxIDRunes)) + `]}`, 200, ""},
		{"an exclude id of 65 characters", "select", `{"exclude":["a1b2c3",` + quoted(strings.Repeat("x", maxIDRunes+1)) + `]}`, 400,
			"exclude[1] must be at most 64 characters, with no control or bidirectional-override character"},
		{"an exclude id with a newline", "select", `{"exclude":["a1\nb2"]}`, 400,
			"exclude[0] must be at most 64 characters, with no control or bidirectional-override character"},
		{"exclude not an array", "select", `{"exclude":"a1b2c3"}`, 400, "field exclude: expected an array, got string"},
		{"an exclude id not a string", "select", `{"exclude":[1]}`, 400, "field exclude: expected a string, got number"},
		{"status_code with a fraction", "report", `{"status_code":429.5}`, 400, "field status_code: expected a whole number"},
		{"status_code in exponent form", "report", `{"status_code":4.29e2}`, 400, "field status_code: expected a whole number"},
		{"status_code out of range", "report", `{"status_code":99999999999999999999}`, 400, "field status_code: expected a whole number, got one out of range"},
		{"status_code a string", "report", `{"status_code":"429"}`, 400, "field status_code: expected a whole number, got string"},
		{"wait_ms with a fraction", "select", `{"wait_ms":1.5}`, 400, "field wait_ms: expected a whole number"},
		{"lease not a boolean", "select", `{"lease":1}`, 400, "field lease: expected true or false, got number"},
		{"headers not an object", "report", `{"status_code":200,"headers":[]}`, 400, "field headers: expected an object, got array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := ts.do(t, "POST", "/v1/pools/openrouter/"+tc.path, strings.NewReader(tc.body), nil)
			require.Equal(t, tc.status, status, "body: %s", b)
			if tc.status != 400 {
				return
			}
			var eb apitype.ErrorBody
			require.NoError(t, json.Unmarshal(b, &eb), "body: %s", b)
			assert.Equal(t, apitype.CodeBadRequest, eb.Error.Code)
			assert.Equal(t, tc.msg, eb.Error.Message)
		})
	}
}

// TestCallerTextInServerMessagesIsBounded: the server's own messages quote
// what a caller sent escaped and cut.
func TestCallerTextInServerMessagesIsBounded(t *testing.T) {
	ts := startServer(t, newFake(), ServerOptions{})
	status, _, b := ts.do(t, strings.Repeat("PROPFIND", 500), "/v1/health", nil, nil)
	require.Equal(t, 405, status)
	var eb apitype.ErrorBody
	require.NoError(t, json.Unmarshal(b, &eb), "body: %s", b)
	assert.Less(t, len(eb.Error.Message), 200, eb.Error.Message)
	assert.Contains(t, eb.Error.Message, `PROPFIND…" is not allowed here`)
}

func TestServerDefaults(t *testing.T) {
	s := NewServer(newFake(), ServerOptions{})
	assert.Equal(t, DefaultReadHeaderTimeout, s.opts.ReadHeaderTimeout)
	assert.Equal(t, DefaultReadTimeout, s.opts.ReadTimeout)
	assert.Equal(t, DefaultIdleTimeout, s.opts.IdleTimeout)
	assert.Equal(t, DefaultShutdownGrace, s.opts.ShutdownGrace)
}
