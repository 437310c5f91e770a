package socketapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credpool/credpool/apitype"
)

// fuzzBody sends body to path through the full handler (middleware, mux,
// decoder) over a fake backend that accepts everything valid: the answer is
// a success or a 400 with a JSON error that never echoes the secret.
func fuzzBody(f *testing.F, path string, ok int, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	h := NewServer(newFake(), ServerOptions{Logger: discardLogger(), Now: fixedNow}).Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case ok:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("invalid JSON answer %q", rec.Body)
			}
		case http.StatusBadRequest:
			var eb apitype.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code != apitype.CodeBadRequest || eb.Error.Message == "" {
				t.Fatalf("400 without a proper error body: %q", rec.Body)
			}
			if strings.Contains(rec.Body.String(), secretAccess) {
				t.Fatalf("the error echoes a secret: %q", rec.Body)
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}

func FuzzSelectBody(f *testing.F) {
	fuzzBody(f, "/v1/pools/openrouter/select", http.StatusOK)
}

func FuzzReportBody(f *testing.F) {
	fuzzBody(f, "/v1/pools/openrouter/report", http.StatusOK, `{"api_key_hint":"`+secretAccess+`","status_code":429,"reset_at":"`+secretAccess+`"}`)
}

func FuzzAddBody(f *testing.F) {
	fuzzBody(f, "/v1/pools/openrouter/entries", http.StatusCreated, `{"access_token":"`+secretAccess+`","label":1}`)
}

func FuzzResetBody(f *testing.F) {
	fuzzBody(f, "/v1/pools/openrouter/reset", http.StatusOK)
}
