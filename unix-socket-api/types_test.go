package socketapi

import (
	"encoding/json"
	"testing"

	"github.com/credpool/credpool/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlexString(t *testing.T) {
	tests := []struct {
		in, text, out string
		wantErr       bool
	}{
		{in: `1700000000`, text: "1700000000", out: `1700000000`},
		{in: `1.7e12`, text: "1.7e12", out: `1.7e12`},
		{in: `-5`, text: "-5", out: `-5`},
		{in: `"120"`, text: "120", out: `120`},
		{in: `"2025-01-02T03:04:05Z"`, text: "2025-01-02T03:04:05Z", out: `"2025-01-02T03:04:05Z"`},
		{in: `"Wed, 21 Oct 2015 07:28:00 GMT"`, text: "Wed, 21 Oct 2015 07:28:00 GMT", out: `"Wed, 21 Oct 2015 07:28:00 GMT"`},
		{in: `"Infinity"`, text: "Infinity", out: `"Infinity"`},
		{in: `null`, text: "", out: `""`},
		{in: `true`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `[1]`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var f apitype.FlexString
			err := json.Unmarshal([]byte(tc.in), &f)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, apitype.FlexString(tc.text), f)
			b, err := json.Marshal(f)
			require.NoError(t, err)
			assert.Equal(t, tc.out, string(b))
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &apitype.APIError{Status: 404, Code: apitype.CodeUnknownPool, Message: `pool "x": unknown pool`}
	assert.Equal(t, `credpool: unknown_pool: pool "x": unknown pool`, e.Error())
	e = &apitype.APIError{Status: 502, Code: "http_502"}
	assert.Equal(t, `credpool: http_502 (HTTP 502)`, e.Error())
}
