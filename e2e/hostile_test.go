package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// TestDeepUnknownValueKeepsItsSize is issue 9 item 5: a 20 KB file with an
// unknown field nested 9,990 arrays deep became a 199.6 MB file on the
// first write (7.5 s, 829 MB peak), because unknown values were re-encoded
// level by level. It guards the byte-for-byte keeping of unknown values:
// after the daemon's write the file is about the same size and holds the
// deep value as it was.
func TestDeepUnknownValueKeepsItsSize(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 9990) + strings.Repeat("]", 9990)
	fixture := string(secretFixture(t, nil))
	const anchor = `"x_team_note": "kept verbatim by every writer"`
	require.Contains(t, fixture, anchor)
	fixture = strings.Replace(fixture, anchor, anchor+`, "x_deep": `+deep, 1)
	fixture = strings.Replace(fixture, "{", `{"x_deep_top": `+deep+`, `, 1)
	h := start(t, []byte(fixture), daemontest.Options{})
	h.report("openrouter", "77aa11", 429, "rate_limit_exceeded")
	raw := mustRead(t, h.AuthFile)
	assert.Less(t, len(raw), len(fixture)+4096, "auth.json grew from %d to %d bytes on one write", len(fixture), len(raw))
	assert.Equal(t, 2, strings.Count(string(raw), deep), "the deep values are not kept byte for byte")
	assert.Equal(t, "exhausted", diskStatus(h.diskRow("openrouter", "77aa11")), "the write itself")
}

// TestDuplicatedIDIsShownAndRepaired is issue 9 item 6: a hand-copied entry
// that kept the original id was never shown, counted or selected, and
// nothing said so. It guards the problem report (health and status name
// the row) and `credpool repair`, which gives the row an id of its own so
// that it is served.
func TestDuplicatedIDIsShownAndRepaired(t *testing.T) {
	t.Parallel()
	copyTok := accessToken(t)
	fixture := secretFixture(t, func(doc map[string]any) {
		pools := doc["credential_pool"].(map[string]any)
		orig := daemontest.Entry(doc, "openrouter", "77aa11")
		dup := map[string]any{}
		for k, v := range orig {
			dup[k] = v
		}
		dup["label"], dup["access_token"], dup["priority"] = "hand-copied", copyTok, 3
		pools["openrouter"] = append(pools["openrouter"].([]any), dup)
	})
	h := start(t, fixture, daemontest.Options{})
	hl := h.health()
	assert.Equal(t, "degraded", hl.Status)
	require.Len(t, hl.Problems, 1, "health's problems")
	assert.Equal(t, "77aa11", hl.Problems[0].ID)
	assert.Equal(t, 4, hl.Problems[0].Index, "the 1-based row of the copy")
	assert.Contains(t, hl.Problems[0].What, "duplicate id")
	st := h.credpool("", "status", "openrouter")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, st.stdout, "row 4: duplicate id 77aa11", st.stdout)
	assert.Contains(t, st.stdout, "credpool repair openrouter", "status says how to fix it")

	rep := h.credpool("", "repair", "openrouter")
	require.Equal(t, 0, rep.code, rep.stderr)
	assert.Contains(t, rep.stdout, "gave 1 row of openrouter an id of its own")
	assert.NotContains(t, rep.stderr, "warning", "the repair is on disk when repair returns")
	var newID string
	for _, e := range daemontest.Entries(h.disk(), "openrouter") {
		if m := e.(map[string]any); m["access_token"] == copyTok {
			newID = str(m["id"])
		}
	}
	require.NotEmpty(t, newID, "the copy is on disk")
	assert.NotEqual(t, "77aa11", newID, "the copy still has the original's id")
	assert.Equal(t, "hand-copied", h.view("openrouter", newID).Label)
	sel, err := h.Client.Select(bg, "openrouter", apitype.SelectRequest{Exclude: []string{"77aa11", "9f8e7d"}})
	require.NoError(t, err, "the repaired row is served")
	assert.Equal(t, newID, sel.Credential.ID)
	assert.True(t, sel.Credential.AccessToken == copyTok, "the repaired row is served with its own key")
	assert.Empty(t, h.health().Problems, "problems after the repair")
}

// apiError posts body to path and returns the status and the error answer.
func (h *harness) apiError(method, path, body string) (int, apitype.ErrorDetail) {
	h.t.Helper()
	code, raw := h.call(method, path, body)
	var eb apitype.ErrorBody
	if code >= 400 {
		require.NoError(h.t, json.Unmarshal(raw, &eb), "error answer %q", excerpt(raw))
	}
	return code, eb.Error
}

// TestNumbersAndFieldsItCannotReadBack is issue 9 item 8: the API took
// priority 4611686018427387904 (and the 2^53+1 that "max+1" gave), and
// afterwards every write failed, for every provider, with "auth file is
// corrupt"; one field of the wrong type in any entry did the same. It
// guards the API's bounds (400 naming the field) and the reader that keeps
// a field it cannot interpret byte for byte: the file stays writable for
// every provider, the bad entry is not served, and health and status name
// the field.
func TestNumbersAndFieldsItCannotReadBack(t *testing.T) {
	t.Parallel()
	t.Run("API bounds", func(t *testing.T) {
		t.Parallel()
		h := start(t, secretFixture(t, func(doc map[string]any) {
			doc["credential_pool"].(map[string]any)["top"] = []any{map[string]any{
				"id": "70b001", "label": "at-the-top", "auth_type": "api_key", "priority": json.Number("9007199254740992"),
				"source": "manual", "access_token": accessToken(t), "request_count": 0}}
		}), daemontest.Options{})
		for _, prio := range []string{"4611686018427387904", "9007199254740993"} {
			code, e := h.apiError(http.MethodPost, "/v1/pools/openrouter/entries", fmt.Sprintf(`{"access_token": %q, "priority": %s}`, accessToken(t), prio))
			assert.Equal(t, http.StatusBadRequest, code, "priority %s", prio)
			assert.Equal(t, apitype.CodeBadRequest, e.Code)
			assert.Contains(t, e.Message, "priority", "the error names the field")
		}
		// The next priority after 2^53 would be 2^53+1.
		code, e := h.apiError(http.MethodPost, "/v1/pools/top/entries", fmt.Sprintf(`{"access_token": %q}`, accessToken(t)))
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, e.Message, "priority")
		assert.Len(t, daemontest.Entries(h.disk(), "top"), 1, "nothing was added")
		h.report("openrouter", "77aa11", 429, "") // and the file stays writable
	})
	t.Run("fields of the wrong type", func(t *testing.T) {
		t.Parallel()
		fixture := secretFixture(t, func(doc map[string]any) {
			e := daemontest.Entry(doc, "openrouter", "9f8e7d")
			e["access_token"], e["last_status_at"], e["last_status"] = json.Number("12345"), "garbage", "ok"
		})
		h := start(t, fixture, daemontest.Options{})
		hl := h.health()
		require.NotEmpty(t, hl.Problems, "health names the unreadable fields")
		what := ""
		for _, p := range hl.Problems {
			what += p.What + "\n"
		}
		assert.Contains(t, what, "access_token")
		assert.Contains(t, what, "last_status_at")
		st := h.credpool("", "status", "openrouter")
		require.Equal(t, 0, st.code, st.stderr)
		assert.Contains(t, lineWith(st.stdout, "9f8e7d"), "unreadable", st.stdout)
		assert.Contains(t, lineWith(st.stdout, "9f8e7d"), "access_token", st.stdout)

		// Writes go on for this provider and for another one.
		h.report("openrouter", "77aa11", 429, "")
		h.report("openai-codex", "a1b2c3", 401, "token_invalidated")
		raw := string(mustRead(t, h.AuthFile))
		doc := h.disk()
		assert.Equal(t, "exhausted", diskStatus(daemontest.Entry(doc, "openrouter", "77aa11")))
		assert.Equal(t, "dead", diskStatus(daemontest.Entry(doc, "openai-codex", "a1b2c3")))
		// (Not assert.Contains: it would print the file, tokens and all.)
		assert.True(t, strings.Contains(raw, `"access_token": 12345`), "the unreadable access_token is not kept byte for byte")
		assert.True(t, strings.Contains(raw, `"last_status_at": "garbage"`), "the unreadable last_status_at is not kept byte for byte")
		// The bad entry is never handed out: with the other keyed entry
		// exhausted, nothing is.
		_, err := h.Client.Select(bg, "openrouter", apitype.SelectRequest{})
		assert.ErrorIs(t, err, pool.ErrNoneAvailable, "a select handed out an entry with an unreadable token")
	})
}

// TestOrdinaryTimeFormatsAreRead is issue 9 item 9: times that Python's %z
// and hand edits write ("+0000", a space for the T, minutes only) passed
// pool's parser but made the file reader call the file corrupt. It guards
// the one time parser of both: the daemon reads them, shows them, and the
// file stays writable.
func TestOrdinaryTimeFormatsAreRead(t *testing.T) {
	t.Parallel()
	want := float64(time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC).Unix())
	forms := map[string]string{"77aa11": "2026-06-01T12:30:00+0000", "9f8e7d": "2026-06-01 12:30:00+0000", "a1b2c3": "2026-06-01T12:30"}
	fixture := secretFixture(t, func(doc map[string]any) {
		for _, p := range []string{"openrouter", "openai-codex"} {
			for id, form := range forms {
				if e := daemontest.Entry(doc, p, id); e != nil {
					e["last_status"], e["last_status_at"], e["last_error_code"], e["last_error_reason"] = "dead", form, 401, "token_invalidated"
				}
			}
		}
	})
	// Not pruned at the start: they are DEAD manual entries from June.
	h := start(t, fixture, daemontest.Options{Args: []string{"--prune-dead-after", "0"}})
	hl := h.health()
	assert.Equal(t, "ok", hl.Status, "health: %s", apitype.Value(hl.LastError))
	assert.Empty(t, hl.Problems)
	for id, form := range forms {
		p := "openrouter"
		if id == "a1b2c3" {
			p = "openai-codex"
		}
		v := h.view(p, id)
		require.NotNil(t, v.LastStatusAt, "%s (%s)", id, form)
		assert.InDelta(t, want, *v.LastStatusAt, 0.001, "%s: last_status_at %q", id, form)
		assert.Equal(t, "dead", v.Status, "%s", id)
	}
	h.report("custom:together.ai", "c0ffee", 429, "") // c0ffee has no token: it is still marked
	raw := string(mustRead(t, h.AuthFile))
	for _, form := range forms {
		assert.True(t, strings.Contains(raw, strconv.Quote(form)), "the time %q as written is not kept", form)
	}
}

// TestBadProviderNamesAndTokensAreRefused is issue 9 item 10: provider
// names such as "..", a NUL byte, a right-to-left override and 8,000
// characters were accepted (status output could be spoofed), and so was an
// access token with a newline. It guards the API's checks: 400 with a
// clear error, nothing written.
func TestBadProviderNamesAndTokensAreRefused(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	before := currentEntries(t, h)
	for name, provider := range map[string]string{
		"dot-dot": "..", "NUL": "open\x00router", "right-to-left override": "evil\u202eretuorn", "8000 characters": strings.Repeat("a", 8000),
		"upper case": "OpenRouter", "slash": "a/b", "dot": ".",
	} {
		_, err := h.Client.AddEntry(bg, provider, apitype.AddRequest{AccessToken: accessToken(t)})
		var apiErr *apitype.APIError
		if assert.ErrorAs(t, err, &apiErr, "%s: the add was accepted", name) {
			assert.Equal(t, http.StatusBadRequest, apiErr.Status, "%s: %s", name, apiErr.Message)
			assert.Contains(t, apiErr.Message, "provider name", "%s: the error says what is wrong", name)
			assert.NotContains(t, apiErr.Message, "\u202e", "%s: the error repeats the override", name)
			assert.Less(t, len(apiErr.Message), 400, "%s: the error repeats the whole name", name)
		}
	}
	_, err := h.Client.AddEntry(bg, "openrouter", apitype.AddRequest{AccessToken: "sk-SECRET-line\nbreak"})
	var apiErr *apitype.APIError
	require.ErrorAs(t, err, &apiErr, "an access token with a newline was accepted")
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)
	assert.Contains(t, apiErr.Message, "access token")
	daemontest.NoSecret(t, "the refusal of a token with a newline", apiErr.Message)
	assert.Equal(t, before, currentEntries(t, h), "a refused add changed the pool")
	daemontest.Eventually(t, "auth.json holding what the daemon holds (a refused add reached it)", func() bool {
		return assert.ObjectsAreEqual(before, diskEntries(h.disk()))
	})
}

// currentEntries are the daemon's pools as provider → ids.
func currentEntries(t *testing.T, h *harness) map[string][]string {
	t.Helper()
	views, err := h.Client.Pools(bg)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, v := range views {
		for _, e := range v.Entries {
			out[v.Provider] = append(out[v.Provider], e.ID)
		}
	}
	return out
}

// diskEntries are the pools of a decoded auth.json as provider → ids.
func diskEntries(doc map[string]any) map[string][]string {
	out := map[string][]string{}
	for p := range doc["credential_pool"].(map[string]any) {
		for _, e := range daemontest.Entries(doc, p) {
			out[p] = append(out[p], str(e.(map[string]any)["id"]))
		}
	}
	return out
}

// TestOtherWritersTextIsRedacted is issue 9 item 11: a last_error_reason
// that Hermes stored as "Incorrect API key provided: sk-proj-…" appeared
// whole in the log, the entry.exhausted event and `credpool status`;
// another entry's key and a prefix of a key were kept verbatim. It guards
// the redaction of every reason and message whoever wrote it, at every
// exit: the daemon's log at debug level, events, status (text and JSON)
// and every API answer. Each quoted secret carries the SECRET marker.
func TestOtherWritersTextIsRedacted(t *testing.T) {
	t.Parallel()
	own := "sk-proj-SECRET" + randHex(t) + randHex(t)
	other := "sk-proj-SECRET" + randHex(t) + randHex(t)
	plain := "tok_SECRET_" + randHex(t) + randHex(t) // not token-shaped: only the prefix rule finds it
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQSECRET" + randHex(t) + ".SECRETsig" + randHex(t)
	rows := []struct{ id, token, reason, message string }{
		{"500001", own, "Incorrect API key provided: " + own, "Incorrect API key provided: " + own + ". You can find your API key at https://platform.openai.com."},
		{"500002", other, "Incorrect API key provided: " + own, "key " + own[:20] + "… was revoked"},
		{"500003", plain, "rejected " + plain[:16], "the key " + plain + " is not valid"},
		{"500004", accessToken(t), "invalid_token", "Bearer " + jwt + " expired"},
		{"500005", accessToken(t), "", ""}, // left available, for the selects
	}
	var entries []any
	for i, r := range rows {
		entries = append(entries, map[string]any{"id": r.id, "label": "leak-" + r.id, "auth_type": "api_key", "priority": i,
			"source": "manual", "access_token": r.token, "request_count": 0})
	}
	fixture := secretFixture(t, func(doc map[string]any) { doc["credential_pool"].(map[string]any)["leaky"] = entries })
	h := start(t, fixture, daemontest.Options{Args: []string{"--log-level", "debug"}})
	f := h.follow()
	// Hermes marks them, with its own unredacted text.
	daemontest.HermesWrite(t, h.AuthFile, func(doc map[string]any) {
		for _, r := range rows[:4] {
			e := daemontest.Entry(doc, "leaky", r.id)
			e["last_status"], e["last_status_at"], e["last_error_code"] = "exhausted", float64(time.Now().Unix()), 401
			e["last_error_reason"], e["last_error_message"] = r.reason, r.message
		}
	})
	for _, r := range rows[:4] {
		ev := f.wait(t, "entry.exhausted", r.id)
		daemontest.NoSecret(t, "the entry.exhausted event", ev.Reason+ev.Message)
	}
	assert.Contains(t, apitype.Value(h.view("leaky", "500001").LastErrorReason), "Incorrect API key provided", "the reason is shown, redacted")

	for _, path := range []string{"/v1/pools", "/v1/pools/leaky", "/v1/health", "/metrics"} {
		code, body := h.call(http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, code, path)
		answerHasNoSecret(t, "GET "+path, body)
	}
	code, body := h.call(http.MethodPost, "/v1/pools/leaky/select", `{}`)
	require.Equal(t, http.StatusOK, code)
	answerHasNoSecret(t, "select", body, "credential.access_token")
	code, body = h.call(http.MethodPost, "/v1/pools/leaky/report", `{"credential_id": "500001", "status_code": 401, "message": "again"}`)
	require.Equal(t, http.StatusOK, code)
	answerHasNoSecret(t, "report", body, "next.access_token")
	for _, args := range [][]string{{"status"}, {"status", "leaky"}, {"status", "--json"}} {
		res := h.credpool("", args...)
		daemontest.NoSecret(t, "credpool "+strings.Join(args, " "), res.stdout+res.stderr)
	}
	// The daemon's log (debug level) is checked by the harness at the end.
}

// TestWaitingSelectGetsShuttingDown is issue 9 item 12: during a restart a
// waiting select got 503 no_available_credential "none will recover by
// itself", with no Retry-After; socketapi's own test passed only because
// its fake backend returned the context's error. It guards the answer of
// the real daemon: 503 shutting_down with Retry-After: 1.
func TestWaitingSelectGetsShuttingDown(t *testing.T) {
	t.Parallel()
	for i := range 3 { // the stop races the server's and the daemon's ends: try it a few times
		fixture, _ := stalePool(t, 2, map[string]map[string]any{
			"k1": {"last_status": "exhausted", "last_status_at": float64(time.Now().Unix()), "last_error_code": 429},
			"k2": {"last_status": "exhausted", "last_status_at": float64(time.Now().Unix()), "last_error_code": 429},
		})
		h := start(t, fixture, daemontest.Options{})
		conn, err := net.Dial("unix", h.Socket)
		require.NoError(t, err)
		body := fmt.Sprintf(`{"wait_ms": %d}`, apitype.MaxWaitMS)
		_, err = fmt.Fprintf(conn, "POST /v1/pools/%s/select HTTP/1.1\r\nHost: credpool\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			staleProvider, len(body), body)
		require.NoError(t, err)
		// Let the request reach its wait (the daemon reads it at once).
		time.Sleep(300 * time.Millisecond)
		stopped := make(chan error, 1)
		go func() { stopped <- h.Stop() }()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "round %d: no answer to the waiting select during the stop", i)
		var eb apitype.ErrorBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
		_ = resp.Body.Close()
		_ = conn.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "round %d", i)
		assert.Equal(t, apitype.CodeShuttingDown, eb.Error.Code, "round %d: %s", i, eb.Error.Message)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), "round %d", i)
		require.NoError(t, <-stopped)
	}
}

// TestOneSocketPathForAll is issue 9 item 13: the daemon, the Go client and
// the Python client each computed their own default socket; with
// XDG_RUNTIME_DIR set the daemon could listen under ~/.cache while the
// client dialled under $XDG_RUNTIME_DIR, and the Go client ignored
// CREDPOOL_SOCKET. It guards the one function (paths): a daemon started
// without --socket, the command line, the Go client and the Python client
// find the same socket, with XDG_RUNTIME_DIR set and with CREDPOOL_SOCKET
// set. (It sets the test process's environment, so it does not run in
// parallel.)
func TestOneSocketPathForAll(t *testing.T) {
	cases := []struct {
		name string
		env  func(home string) (env []string, socket string)
	}{
		{"XDG_RUNTIME_DIR", func(home string) ([]string, string) {
			xdg := filepath.Join(home, "xdg-run")
			return []string{"XDG_RUNTIME_DIR=" + xdg}, filepath.Join(xdg, "credpool", "credpool.sock")
		}},
		{"CREDPOOL_SOCKET", func(home string) ([]string, string) {
			s := filepath.Join(home, "elsewhere", "c.sock")
			return []string{"XDG_RUNTIME_DIR=" + filepath.Join(home, "xdg-run"), "CREDPOOL_SOCKET=" + s}, s
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := testio.ShortTempDir(t)
			home := filepath.Join(dir, "home")
			require.NoError(t, os.MkdirAll(filepath.Join(home, "xdg-run"), 0o700))
			env, socket := tc.env(home)
			env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
			h := start(t, secretFixture(t, nil), daemontest.Options{Dir: dir, Env: env, Socket: socket, NoSocketFlag: true})

			// The command line, without --socket, in the same environment.
			cmd := exec.Command(h.Bin, "status", "--auth-file", h.AuthFile)
			cmd.Env = append(cliEnv(home), env...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "credpool status: %s", out)
			assert.NotContains(t, string(out), "not running", "the command line looked for another socket")

			// The Go client, with no path given.
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			if !strings.Contains(strings.Join(env, " "), "CREDPOOL_SOCKET") {
				t.Setenv("CREDPOOL_SOCKET", "")
			}
			c := socketapi.NewClient("")
			defer c.Close()
			assert.Equal(t, socket, c.SocketPath(), "the Go client's default socket")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = c.Health(ctx)
			assert.NoError(t, err, "the Go client reaches the daemon")

			// The Python client (the test skips, saying so, without python3).
			py := anyPython(t, "the Python client's check")
			pyDir, err := filepath.Abs(filepath.Join("..", "unix-socket-api", "python"))
			require.NoError(t, err)
			cmd = exec.Command(py, "-c", "import credpool_client as c; print(c.default_socket_path())")
			cmd.Env = append(cliEnv(home), append(env, "PYTHONPATH="+pyDir)...)
			out, err = cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, socket, strings.TrimSpace(string(out)), "the Python client's default socket")
		})
	}
}

// TestStatusJSONIsTheAPIDialect is issue 9 item 14: for one entry the API
// answered "until": null and `credpool status --json` "until": 0, and
// token_hint and last_error_code differed the same way. It guards the one
// set of wire types: status --json, with and without a daemon, gives the
// same JSON as GET /v1/pools for every entry.
func TestStatusJSONIsTheAPIDialect(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	entriesOf := func(raw []byte) map[string]map[string]any {
		var pools struct {
			Pools []struct {
				Provider string           `json:"provider"`
				Entries  []map[string]any `json:"entries"`
			} `json:"pools"`
		}
		require.NoError(t, json.Unmarshal(raw, &pools), "%s", excerpt(raw))
		out := map[string]map[string]any{}
		for _, p := range pools.Pools {
			for _, e := range p.Entries {
				out[p.Provider+"/"+str(e["id"])] = e
			}
		}
		return out
	}
	code, raw := h.call(http.MethodGet, "/v1/pools", "")
	require.Equal(t, http.StatusOK, code)
	api := entriesOf(raw)
	require.NotEmpty(t, api)
	abc := api["openrouter/abc123"]
	require.NotNil(t, abc)
	assert.Nil(t, abc["until"], "until of an entry without a cooldown")
	assert.Nil(t, abc["token_hint"], "token_hint of an entry without a token")
	assert.Nil(t, abc["last_error_code"], "last_error_code of an entry without an error")

	live := h.credpool("", "status", "--json")
	require.Equal(t, 0, live.code, live.stderr)
	assert.Equal(t, api, entriesOf([]byte(live.stdout)), "status --json with a daemon")
	require.NoError(t, h.Stop())
	offline := h.credpool("", "status", "--json")
	require.Equal(t, 0, offline.code, offline.stderr)
	assert.Equal(t, api, entriesOf([]byte(offline.stdout)), "status --json without a daemon")
}

// TestSmallOverflows is issue 9 item 15: last_error_reset_at 1e30 gave
// Retry-After: -9223372036854775808; cooldowns ending in 3000 or 9999 showed
// "0s left"; dropped events were not counted in /metrics. It guards the
// float epoch arithmetic with its bounds and the drop counter.
func TestSmallOverflows(t *testing.T) {
	t.Parallel()
	t.Run("Retry-After and time left", func(t *testing.T) {
		t.Parallel()
		y3000 := float64(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
		now := float64(time.Now().Unix())
		fixture, _ := stalePool(t, 3, map[string]map[string]any{
			"k1": {"last_status": "exhausted", "last_status_at": now, "last_error_code": 429, "last_error_reset_at": 1e30},
			"k2": {"last_status": "exhausted", "last_status_at": now, "last_error_code": 429, "last_error_reset_at": y3000},
			"k3": {"last_status": "exhausted", "last_status_at": now, "last_error_code": 429, "last_error_reset_at": 253402300799.0},
		})
		h := start(t, fixture, daemontest.Options{})
		req, err := http.NewRequest(http.MethodPost, "http://credpool/v1/pools/"+staleProvider+"/select", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp, err := h.http.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		ra := resp.Header.Get("Retry-After")
		n, err := strconv.ParseInt(ra, 10, 64)
		require.NoError(t, err, "Retry-After %q", ra)
		// Every cooldown ends more than epoch.MaxDelay (10 years) from now:
		// the header is that cap, never more.
		assert.Equal(t, int64(epoch.MaxDelay), n, "Retry-After of cooldowns past the cap")
		t.Logf("Retry-After: %s", ra)
		st := h.credpool("", "status", staleProvider)
		require.Equal(t, 0, st.code, st.stderr)
		for _, id := range []string{"k2", "k3"} {
			line := lineWith(st.stdout, "key-"+id)
			assert.Contains(t, line, "y left", "%s: a cooldown to the year 3000 or 9999: %s", id, line)
			assert.NotContains(t, line, " 0s left", "%s", id)
		}
	})
	t.Run("dropped events are counted", func(t *testing.T) {
		t.Parallel()
		h := start(t, secretFixture(t, nil), daemontest.Options{})
		require.Zero(t, metric(t, h, "credpool_events_dropped_total"))
		// A follower that never reads: once the socket buffers and its 256
		// queued events are full, events are dropped for it.
		conn, err := net.Dial("unix", h.Socket)
		require.NoError(t, err)
		defer conn.Close()
		_, err = fmt.Fprint(conn, "GET /v1/events HTTP/1.1\r\nHost: credpool\r\n\r\n")
		require.NoError(t, err)
		daemontest.Eventually(t, "the follower subscribed", func() bool {
			// The daemon sends the headers once it has subscribed.
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			b := make([]byte, 1)
			n, _ := conn.Read(b)
			return n == 1
		})
		// One write of 10,000 entries is 10,000 entry.added events at once.
		daemontest.HermesWrite(t, h.AuthFile, func(doc map[string]any) {
			var many []any
			for i := range 10000 {
				many = append(many, map[string]any{"id": fmt.Sprintf("%06x", 0xd00000+i), "label": fmt.Sprintf("many-%d", i),
					"auth_type": "api_key", "priority": i, "source": "manual", "access_token": fmt.Sprintf("sk-many-%d", i), "request_count": 0})
			}
			doc["credential_pool"].(map[string]any)["many"] = many
		})
		daemontest.Eventually(t, "dropped events counted in /metrics", func() bool {
			return metric(t, h, "credpool_events_dropped_total") > 0
		})
	})
}
