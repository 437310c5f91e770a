package socketapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/golden"
)

func TestEndpoints(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string // JSON the answer must equal; "" = check contains
		contains                 []string
	}{
		{name: "health", method: "GET", path: "/v1/health", status: 200,
			want: `{"status":"ok","version":"test","auth_file":"/tmp/auth.json","pools":1,"entries":3,"last_reload_at":1700000000,"last_error":null,"pending_write":false,"problems":null,"gateway":null}`},
		{name: "pools", method: "GET", path: "/v1/pools", status: 200,
			contains: []string{`"pools":[{"provider":"openrouter"`, `"next_available_at":1700003600`}},
		{name: "pool", method: "GET", path: "/v1/pools/openrouter", status: 200,
			contains: []string{`"provider":"openrouter"`, `"strategy":"fill_first"`, `"token_hint":"wR2"`, `"until":null`, `"until":1700003600`}},
		{name: "select empty body", method: "POST", path: "/v1/pools/openrouter/select", status: 200,
			want: `{"credential":{"id":"a1b2c3","provider":"openrouter","label":"primary","auth_type":"api_key","source":"manual","access_token":"` + secretAccess + `","base_url":null,"expires_at":null,"priority":0,"request_count":8}}`},
		{name: "select with lease", method: "POST", path: "/v1/pools/openrouter/select", body: `{"lease":true,"strategy":"round_robin"}`, status: 200,
			contains: []string{`"lease":{"id":"lease-1","expires_at":1700000600}`}},
		{name: "report 429", method: "POST", path: "/v1/pools/openrouter/report", body: `{"credential_id":"a1b2c3","status_code":429,"reset_at":1700003600,"retry_after":"120"}`, status: 200,
			contains: []string{`"marked":{"id":"a1b2c3","status":"exhausted","until":1700003600}`, `"next":{"id":"d4e5f6"`}},
		{name: "report 200 marks nothing", method: "POST", path: "/v1/pools/openrouter/report", body: `{"lease_id":"x","status_code":200}`, status: 200,
			want: `{"marked":null,"next":null,"persisted":true}`},
		{name: "release", method: "POST", path: "/v1/leases/lease-1/release", status: 204},
		{name: "add", method: "POST", path: "/v1/pools/openrouter/entries", body: `{"label":"new","access_token":"` + secretAdded + `","priority":0}`, status: 201,
			contains: []string{`"entry":{"id":"fff000","label":"new"`, `"token_hint":"Rt5w"`, `"priority":0`}},
		{name: "remove by id", method: "DELETE", path: "/v1/pools/openrouter/entries/d4e5f6", status: 200,
			contains: []string{`"removed":{"id":"d4e5f6"`}},
		{name: "remove by index", method: "DELETE", path: "/v1/pools/openrouter/entries/3", status: 200,
			contains: []string{`"removed":{"id":"0a0b0c"`}},
		{name: "reset all", method: "POST", path: "/v1/pools/openrouter/reset", status: 200, want: `{"reset":2,"persisted":true}`},
		{name: "reset one", method: "POST", path: "/v1/pools/openrouter/reset", body: `{"target":"primary"}`, status: 200, want: `{"reset":1,"persisted":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := ts.do(t, tc.method, tc.path, strings.NewReader(tc.body), nil)
			assert.Equal(t, tc.status, status, "body: %s", body)
			if tc.status == http.StatusNoContent {
				assert.Empty(t, body)
				return
			}
			assert.Equal(t, "application/json", hdr.Get("Content-Type"))
			if tc.want != "" {
				assert.JSONEq(t, tc.want, string(body))
			}
			for _, c := range tc.contains {
				assert.Contains(t, string(body), c)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.reports, 2)
	assert.Equal(t, apitype.ReportRequest{CredentialID: "a1b2c3", StatusCode: 429, ResetAt: "1700003600", RetryAfter: "120"}, f.reports[0])
	assert.Equal(t, [][2]string{{"openrouter", ""}, {"openrouter", "primary"}}, f.resets)
	require.Len(t, f.adds, 1)
	assert.Equal(t, secretAdded, f.adds[0].AccessToken)
	require.NotNil(t, f.adds[0].Priority)
	assert.Equal(t, 0, *f.adds[0].Priority)
}

func TestErrorAnswers(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	big := `{"label":"` + strings.Repeat("x", MaxBodyBytes) + `","access_token":"t"}`
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		chunked                  bool
		status                   int
		code                     string
		msg                      string // the message must contain this
	}{
		{"malformed JSON", "POST", "/v1/pools/openrouter/select", `{"lease":`, nil, false, 400, apitype.CodeBadRequest, "unexpected end"},
		{"syntax error names offset", "POST", "/v1/pools/openrouter/select", `{"lease" true}`, nil, false, 400, apitype.CodeBadRequest, "offset 10"},
		{"unknown field", "POST", "/v1/pools/openrouter/select", `{"leese":true}`, nil, false, 400, apitype.CodeBadRequest, `unknown field "leese"`},
		{"trailing data", "POST", "/v1/pools/openrouter/select", `{} {}`, nil, false, 400, apitype.CodeBadRequest, "after the JSON object"},
		{"not an object", "POST", "/v1/pools/openrouter/select", `[1]`, nil, false, 400, apitype.CodeBadRequest, "must be a JSON object"},
		{"wrong type", "POST", "/v1/pools/openrouter/select", `{"wait_ms":"soon"}`, nil, false, 400, apitype.CodeBadRequest, "field wait_ms: expected a whole number, got string"},
		{"wait_ms too long", "POST", "/v1/pools/openrouter/select", `{"wait_ms":30001}`, nil, false, 400, apitype.CodeBadRequest, "wait_ms"},
		{"wait_ms negative", "POST", "/v1/pools/openrouter/select", `{"wait_ms":-1}`, nil, false, 400, apitype.CodeBadRequest, "wait_ms"},
		{"unknown strategy", "POST", "/v1/pools/openrouter/select", `{"strategy":"best"}`, nil, false, 400, apitype.CodeBadRequest, "unknown strategy"},
		{"report without status_code", "POST", "/v1/pools/openrouter/report", `{"credential_id":"a1b2c3"}`, nil, false, 400, apitype.CodeBadRequest, "status_code is required"},
		{"report empty body", "POST", "/v1/pools/openrouter/report", ``, nil, false, 400, apitype.CodeBadRequest, "body is required"},
		{"report bad status_code", "POST", "/v1/pools/openrouter/report", `{"status_code":42}`, nil, false, 400, apitype.CodeBadRequest, "status_code"},
		{"report reset_at bool", "POST", "/v1/pools/openrouter/report", `{"status_code":429,"reset_at":true}`, nil, false, 400, apitype.CodeBadRequest, "reset_at: must be a number or a string"},
		{"report hint not echoed", "POST", "/v1/pools/openrouter/report", `{"status_code":429,"api_key_hint":["` + secretAccess + `"]}`, nil, false, 400, apitype.CodeBadRequest, "field api_key_hint"},
		{"add without token", "POST", "/v1/pools/openrouter/entries", `{"label":"x"}`, nil, false, 400, apitype.CodeBadRequest, "access_token is required"},
		{"add bad auth_type", "POST", "/v1/pools/openrouter/entries", `{"access_token":"t","auth_type":"magic"}`, nil, false, 400, apitype.CodeBadRequest, "bad input"},
		{"long unknown field not echoed", "POST", "/v1/pools/openrouter/reset", `{"` + secretAccess + secretRefresh + `":1}`, nil, false, 400, apitype.CodeBadRequest, "unknown field"},
		{"origin", "GET", "/v1/health", ``, map[string]string{"Origin": "https://evil.example"}, false, 403, apitype.CodeForbidden, "browsers"},
		{"referer", "POST", "/v1/pools/openrouter/select", `{}`, map[string]string{"Referer": "https://evil.example/"}, false, 403, apitype.CodeForbidden, "browsers"},
		{"unknown pool", "GET", "/v1/pools/nope", ``, nil, false, 404, apitype.CodeUnknownPool, "unknown pool"},
		{"select unknown pool", "POST", "/v1/pools/nope/select", ``, nil, false, 404, apitype.CodeUnknownPool, "nope"},
		{"report unknown pool", "POST", "/v1/pools/nope/report", `{"status_code":429}`, nil, false, 404, apitype.CodeUnknownPool, "nope"},
		{"unknown lease", "POST", "/v1/leases/nope/release", ``, nil, false, 404, apitype.CodeUnknownLease, "unknown lease"},
		{"unknown entry", "DELETE", "/v1/pools/openrouter/entries/zzz", ``, nil, false, 404, apitype.CodeUnknownEntry, "no entry matches"},
		{"unknown endpoint", "GET", "/v2/whatever", ``, nil, false, 404, apitype.CodeNotFound, "no such endpoint"},
		{"ambiguous target", "DELETE", "/v1/pools/openrouter/entries/dup", ``, nil, false, 409, apitype.CodeAmbiguousTarget, "more than one"},
		{"method not allowed", "GET", "/v1/pools/openrouter/select", ``, nil, false, 405, apitype.CodeMethodNotAllowed, "use POST"},
		{"method not allowed on read", "DELETE", "/v1/health", ``, nil, false, 405, apitype.CodeMethodNotAllowed, "GET"},
		{"too large with length", "POST", "/v1/pools/openrouter/entries", big, nil, false, 413, apitype.CodeTooLarge, "larger than"},
		{"too large chunked", "POST", "/v1/pools/openrouter/entries", big, nil, true, 413, apitype.CodeTooLarge, "larger than"},
		// The mux would redirect these to another route.
		{"empty provider", "POST", "/v1/pools//select", `{}`, nil, false, 400, apitype.CodeBadRequest, "empty segment"},
		{"empty target", "DELETE", "/v1/pools/openrouter/entries//", ``, nil, false, 400, apitype.CodeBadRequest, "empty segment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			status, hdr, b := ts.do(t, tc.method, tc.path, body, tc.hdr)
			assert.Equal(t, tc.status, status, "body: %s", b)
			var eb apitype.ErrorBody
			require.NoError(t, json.Unmarshal(b, &eb), "body: %s", b)
			assert.Equal(t, tc.code, eb.Error.Code)
			assert.Contains(t, eb.Error.Message, tc.msg)
			assert.NotContains(t, string(b), secretAccess)
			assert.NotContains(t, string(b), secretRefresh)
			if status == 405 {
				assert.NotEmpty(t, hdr.Get("Allow"))
			}
		})
	}
}

func TestPanicAnswered500AndServerLivesOn(t *testing.T) {
	f := newFake()
	f.panicMsg = "boom with " + secretAccess
	ts := startServer(t, f, ServerOptions{})
	status, _, b := ts.do(t, "GET", "/v1/health", nil, nil)
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"error":{"code":"internal","message":"internal error; see the daemon's log"}}`, string(b))
	assert.Contains(t, ts.logs.String(), "handler panicked")
	assert.NotContains(t, ts.logs.String(), secretAccess, "the panic value may hold a secret")

	f.mu.Lock()
	f.panicMsg = ""
	f.mu.Unlock()
	status, _, _ = ts.do(t, "GET", "/v1/health", nil, nil)
	assert.Equal(t, 200, status)
}

func TestSelectPassesWaitAndOptions(t *testing.T) {
	f := newFake()
	ts := startServer(t, f, ServerOptions{})
	status, _, b := ts.do(t, "POST", "/v1/pools/openrouter/select", strings.NewReader(`{"strategy":"round_robin","lease":true,"wait_ms":1500}`), nil)
	require.Equal(t, 200, status, "%s", b)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, []apitype.SelectRequest{{Strategy: "round_robin", Lease: true, WaitMS: 1500}}, f.selects)
}

func TestSelectNoneAvailable(t *testing.T) {
	tests := []struct {
		name       string
		nextAt     float64
		excluded   bool
		golden     string
		retryAfter string
	}{
		// fixedNow is 1700000000.5: 99.5 s left → Retry-After rounds up.
		{"cooling", 1700000100, false, "select_503.json", "100"},
		{"only dead", 0, false, "select_503_dead.json", ""},
		{"the rest excluded", 0, true, "select_503_excluded.json", ""},
		// A cooldown that just ended still asks for at least a second.
		{"already over", 1700000000, false, "select_503_over.json", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.none, f.nextAt, f.excluded = true, tc.nextAt, tc.excluded
			ts := startServer(t, f, ServerOptions{})
			status, hdr, b := ts.do(t, "POST", "/v1/pools/openrouter/select", nil, nil)
			assert.Equal(t, 503, status)
			assert.Equal(t, tc.retryAfter, hdr.Get("Retry-After"))
			golden.Assert(t, tc.golden, b)
		})
	}
}

func TestPoolViewGolden(t *testing.T) {
	ts := startServer(t, newFake(), ServerOptions{})
	status, _, b := ts.do(t, "GET", "/v1/pools/openrouter", nil, nil)
	require.Equal(t, 200, status)
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, b, "", "  "))
	golden.Assert(t, "pool_view.json", pretty.Bytes())
}

// A select that waits longer than ReadTimeout is not cut short: the server
// lifts the read deadline once the body is read.
func TestSelectWaitOutlivesReadTimeout(t *testing.T) {
	f := newFake()
	f.selectWait = make(chan struct{})
	ts := startServer(t, f, ServerOptions{ReadTimeout: 50 * time.Millisecond})
	go func() {
		time.Sleep(300 * time.Millisecond) // several ReadTimeouts
		close(f.selectWait)
	}()
	status, _, b := ts.do(t, "POST", "/v1/pools/openrouter/select", strings.NewReader(`{"wait_ms":5000}`), nil)
	assert.Equal(t, 200, status, "%s", b)
}

// Shutdown ends a waiting select at once with 503 shutting_down, and Serve
// returns.
// A stop ends a waiting select with shutting_down, whatever the backend
// answers when its context ends: the real daemon answers "none available"
// when the server's stop reaches it before its own.
func TestShutdownEndsWaitingSelect(t *testing.T) {
	for _, noneOnCancel := range []bool{false, true} {
		t.Run(fmt.Sprintf("backend answers none=%v", noneOnCancel), func(t *testing.T) {
			f := newFake()
			f.selectWait = make(chan struct{}) // never closed
			f.noneOnCancel, f.nextAt = noneOnCancel, 4e9
			ts := startServer(t, f, ServerOptions{})
			type answer struct {
				status int
				hdr    http.Header
				body   []byte
			}
			got := make(chan answer, 1)
			go func() {
				status, hdr, b := ts.do(t, "POST", "/v1/pools/openrouter/select", strings.NewReader(`{"wait_ms":30000}`), nil)
				got <- answer{status, hdr, b}
			}()
			require.Eventually(t, func() bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				return len(f.selects) == 1
			}, 5*time.Second, 5*time.Millisecond)
			ts.stop()
			a := <-got
			assert.Equal(t, 503, a.status)
			assert.Contains(t, string(a.body), apitype.CodeShuttingDown)
			assert.Equal(t, "1", a.hdr.Get("Retry-After"))
		})
	}
}

func TestSlowHeaderClientCutOff(t *testing.T) {
	ts := startServer(t, newFake(), ServerOptions{ReadHeaderTimeout: 100 * time.Millisecond})
	c, err := net.Dial("unix", ts.path)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n") // headers never end
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the server must close the connection, not leave it to the test's deadline")
	assert.NotContains(t, string(b), "200 OK")
}

func TestPeerUIDRefused(t *testing.T) {
	var seen []int
	ts := startServer(t, newFake(), ServerOptions{AllowUID: func(uid int) bool {
		seen = append(seen, uid) // Accept runs on one goroutine
		return false
	}})
	c, err := net.Dial("unix", ts.path)
	require.NoError(t, err)
	defer c.Close()
	_, _ = io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	b, err := io.ReadAll(c)
	var ne net.Error
	if err != nil {
		require.False(t, errorsAs(err, &ne) && ne.Timeout(), "connection must be closed, not left open")
	}
	assert.Empty(t, b, "a refused peer gets no answer")
	ts.stop() // Accept has returned: its log line is written
	assert.Contains(t, ts.logs.String(), "refused a connection from another user")
	assert.Equal(t, []int{osGetuid()}, seen)
}

func TestEventsToTwoFollowers(t *testing.T) {
	f := newFake()
	// A small ReadTimeout proves the stream outlives it.
	ts := startServer(t, f, ServerOptions{ReadTimeout: 50 * time.Millisecond})
	open := func() *bufio.Scanner {
		req, err := http.NewRequest("GET", "http://credpool/v1/events", nil)
		require.NoError(t, err)
		resp, err := ts.hc.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
		<-f.subscribed
		return bufio.NewScanner(resp.Body)
	}
	a, b := open(), open()
	time.Sleep(150 * time.Millisecond) // past ReadTimeout
	evs := []apitype.Event{
		{Type: "entry.exhausted", At: 1700000000, Provider: "openrouter", ID: "a1b2c3", Label: "primary", Code: 429, Reason: "rate_limit_exceeded", Until: 1700003600, Cause: "report"},
		{Type: "file.reloaded", At: 1700000001},
	}
	for _, ev := range evs {
		f.publish(ev)
	}
	for _, sc := range []*bufio.Scanner{a, b} {
		for _, want := range evs {
			require.True(t, sc.Scan(), "stream ended early: %v", sc.Err())
			var got apitype.Event
			require.NoError(t, json.Unmarshal(sc.Bytes(), &got))
			assert.Equal(t, want, got)
		}
	}
	// Shutdown ends the streams, and Serve returns.
	ts.stop()
	assert.False(t, a.Scan())
	assert.False(t, b.Scan())
}
