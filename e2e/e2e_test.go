package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/pool"
)

var bg = context.Background()

// A 429 and then a 401 token_invalidated: the status command and the file
// on disk both show the DEAD entry, and the exhausted one.
func TestSelectReport429And401Dead(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})

	sel, err := h.Client.Select(bg, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	first := sel.Credential.ID
	require.Contains(t, []string{"9f8e7d", "77aa11"}, first, "abc123 has no token and is never handed out")

	res, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: first, StatusCode: 429, Reason: "rate_limit_exceeded"})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.EqualValues(t, pool.StatusExhausted, res.Marked.Status)
	require.NotNil(t, res.Next, "the other keyed entry is still available")
	second := res.Next.ID
	assert.NotEqual(t, first, second)

	res, err = h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: second, StatusCode: 401, Reason: "token_invalidated",
		Message: "Your authentication token has been invalidated."})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.EqualValues(t, pool.StatusDead, res.Marked.Status)
	assert.Nil(t, res.Next, "nothing is left to hand out")

	st := h.credpool("", "status", "openrouter")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, lineWith(st.stdout, second), "dead token_invalidated", st.stdout)
	assert.Contains(t, lineWith(st.stdout, first), "exhausted 429", st.stdout)
	daemontest.NoSecret(t, "credpool status", st.stdout+st.stderr)

	daemontest.Eventually(t, "both marks on disk", func() bool {
		doc := h.disk()
		return str(entryOf(t, doc, "openrouter", second)["last_status"]) == "dead" &&
			str(entryOf(t, doc, "openrouter", first)["last_status"]) == "exhausted"
	})
	doc := h.disk()
	dead := entryOf(t, doc, "openrouter", second)
	assert.Equal(t, "401", str(dead["last_error_code"]))
	assert.Equal(t, "token_invalidated", str(dead["last_error_reason"]))
	assert.NotEmpty(t, str(dead["last_status_at"]))
	ex := entryOf(t, doc, "openrouter", first)
	assert.Equal(t, "429", str(ex["last_error_code"]))
	assert.Equal(t, "rate_limit_exceeded", str(ex["last_error_reason"]))

	// With the daemon gone, status reads the file and tells the same story.
	require.NoError(t, h.Stop())
	st = h.credpool("", "status", "openrouter")
	require.Equal(t, 0, st.code, st.stderr)
	assert.Contains(t, st.stderr, "not running")
	assert.Contains(t, lineWith(st.stdout, second), "dead token_invalidated", st.stdout)
	assert.Contains(t, lineWith(st.stdout, first), "exhausted 429", st.stdout)
}

// Re-login in another terminal: a Hermes-like Python writer puts fresh tokens
// in the file and the DEAD entry comes back, announced on /v1/events, with no
// select in between.
func TestReloginRecoversDeadEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, provider, id string
		write              func(h *harness, access, refresh string)
		// viaCLI follows the events with `credpool events` instead of the API.
		viaCLI bool
		// busy are entries that a select would prefer: exhausted first so
		// the select at the end must hand out the recovered one.
		busy []string
	}{
		{
			name: "device_code entry through providers.tokens", provider: "openai-codex", id: "a1b2c3",
			write: func(h *harness, access, refresh string) {
				hermes(h.t, "tokens", h.AuthFile, "openai-codex", access, refresh)
			},
		},
		{
			name: "manual entry through its own row", provider: "openrouter", id: "77aa11", viaCLI: true, busy: []string{"9f8e7d"},
			write: func(h *harness, access, refresh string) {
				hermes(h.t, "row", h.AuthFile, "openrouter", "77aa11", access, refresh)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, secretFixture(t, nil), daemontest.Options{})
			for _, id := range tc.busy {
				_, err := h.Client.Report(bg, tc.provider, apitype.ReportRequest{CredentialID: id, StatusCode: 429})
				require.NoError(t, err)
			}
			res, err := h.Client.Report(bg, tc.provider, apitype.ReportRequest{CredentialID: tc.id, StatusCode: 401, Reason: "token_invalidated"})
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			require.EqualValues(t, pool.StatusDead, res.Marked.Status)
			daemontest.Eventually(t, "DEAD on disk", func() bool {
				return str(entryOf(t, h.disk(), tc.provider, tc.id)["last_status"]) == "dead"
			})

			var recovered func() bool
			if tc.viaCLI {
				recovered = h.cliEvents(t, "entry.recovered", tc.id)
			} else {
				f := h.follow()
				recovered = func() bool { _, ok := f.find("entry.recovered", tc.id); return ok }
			}
			access, refresh := accessToken(t), refreshToken(t)
			tc.write(h, access, refresh)
			daemontest.Eventually(t, "entry.recovered", recovered)

			v, err := h.Client.Pool(bg, tc.provider)
			require.NoError(t, err)
			var view *apitype.Entry
			for i := range v.Entries {
				if v.Entries[i].ID == tc.id {
					view = &v.Entries[i]
				}
			}
			require.NotNil(t, view)
			assert.True(t, view.Available)
			assert.Equal(t, string(pool.StatusOK), view.Status)
			assert.Equal(t, access[len(access)-4:], apitype.Value(view.TokenHint))

			daemontest.Eventually(t, "fresh tokens and a cleared status on disk", func() bool {
				e := entryOf(t, h.disk(), tc.provider, tc.id)
				st := str(e["last_status"])
				return (st == "" || st == "ok") && e["access_token"] == access && e["refresh_token"] == refresh &&
					e["last_error_code"] == nil && e["last_error_reason"] == nil
			})
			// Only now a select: the fresh credential is handed out.
			sel, err := h.Client.Select(bg, tc.provider, apitype.SelectRequest{})
			require.NoError(t, err)
			assert.Equal(t, tc.id, sel.Credential.ID)
			assert.Equal(t, access, sel.Credential.AccessToken)
		})
	}
}

// cliEvents runs `credpool events` and returns a check for a line of typ
// about id.
func (h *harness) cliEvents(t *testing.T, typ, id string) func() bool {
	t.Helper()
	p := h.paths()
	cmd := exec.Command(daemontest.Binary(t), "events", "--auth-file", p.auth, "--socket", p.socket, "--config", p.config)
	cmd.Env = cliEnv(p.home)
	out := &testio.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		daemontest.NoSecret(t, "credpool events", out.String())
	})
	// The command has subscribed once it prints an event: ping with
	// harmless Hermes-style writes until a file.reloaded comes through.
	has := func(typ, id string) bool {
		for _, l := range strings.Split(out.String(), "\n") {
			var ev apitype.Event
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == typ && (id == "" || ev.ID == id) {
				return true
			}
		}
		return false
	}
	ping := 0
	daemontest.Eventually(t, "credpool events connected", func() bool {
		if has("file.reloaded", "") {
			return true
		}
		ping++
		daemontest.HermesWrite(t, h.AuthFile, func(doc map[string]any) { doc["x_e2e_ping"] = ping })
		time.Sleep(100 * time.Millisecond)
		return has("file.reloaded", "")
	})
	return func() bool { return has(typ, id) }
}

// Another writer adds and removes entries while the daemon marks statuses:
// nothing is lost either way.
func TestConcurrentWriterLosesNothing(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})

	const n = 40
	type result struct {
		out string
		err error
	}
	churned := make(chan result, 1)
	py := hermesCommand(t)
	go func() {
		out, err := runHermes(py, "churn", h.AuthFile, "openrouter", strconv.Itoa(n))
		churned <- result{out, err}
	}()

	// Meanwhile: mark and reset the fixture's keyed entries over and over.
	var out string
	ids := []string{"9f8e7d", "77aa11"}
loop:
	for i := 0; ; i++ {
		id := ids[i%2]
		_, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: id, StatusCode: 429, Reason: fmt.Sprint("r", i)})
		require.NoError(t, err)
		_, err = h.Client.Reset(bg, "openrouter", id)
		require.NoError(t, err)
		select {
		case r := <-churned:
			require.NoError(t, r.err)
			out = r.out
			break loop
		default:
		}
	}
	// The last word on each entry is the daemon's.
	_, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: "9f8e7d", StatusCode: 429, Reason: "final_429"})
	require.NoError(t, err)
	_, err = h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 401, Reason: "invalid_grant"})
	require.NoError(t, err)

	var got struct{ Kept, Removed []string }
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got.Kept, n/2)

	daemontest.Eventually(t, "the daemon's last marks on disk", func() bool {
		doc := h.disk()
		return str(entryOf(t, doc, "openrouter", "9f8e7d")["last_error_reason"]) == "final_429" &&
			str(entryOf(t, doc, "openrouter", "77aa11")["last_status"]) == "dead"
	})
	doc := h.disk()
	onDisk := map[string]bool{}
	for _, e := range daemontest.Entries(doc, "openrouter") {
		onDisk[str(e.(map[string]any)["id"])] = true
	}
	for _, id := range append([]string{"abc123", "9f8e7d", "77aa11"}, got.Kept...) {
		assert.True(t, onDisk[id], "entry %s lost from the file", id)
	}
	for _, id := range got.Removed {
		assert.False(t, onDisk[id], "entry %s removed by the other writer came back", id)
	}
	for _, id := range got.Kept {
		e := entryOf(t, doc, "openrouter", id)
		assert.NotNil(t, e["x_hermes_only"], "the other writer's own field of %s was lost", id)
	}
	assert.Len(t, onDisk, 3+n/2, "no entry appears twice or from nowhere")

	// The daemon serves what is on disk.
	daemontest.Eventually(t, "the daemon sees the writer's entries", func() bool {
		v, err := h.Client.Pool(bg, "openrouter")
		if err != nil || len(v.Entries) != len(onDisk) {
			return false
		}
		for _, e := range v.Entries {
			if !onDisk[e.ID] {
				return false
			}
		}
		return true
	})
}

// A manual DEAD entry past its prune time disappears from the file on a
// tick, with no request at all; a device_code DEAD entry stays.
func TestDeadManualEntryPrunedOnTick(t *testing.T) {
	t.Parallel()
	deadSince := time.Now()
	now := json.Number(strconv.FormatFloat(float64(deadSince.UnixNano())/1e9, 'f', 6, 64))
	fx := secretFixture(t, func(doc map[string]any) {
		for _, id := range []string{"d4e5f6", "a1b2c3"} {
			e := daemontest.Entry(doc, "openai-codex", id)
			e["last_status"] = "dead"
			e["last_status_at"] = now
			e["last_error_code"] = json.Number("401")
			e["last_error_reason"] = "token_revoked"
			e["last_error_reset_at"] = nil
		}
	})
	h := start(t, fx, daemontest.Options{Args: []string{"--prune-dead-after", "2s"}, Tick: "100ms"})
	present := daemontest.Entry(h.disk(), "openai-codex", "d4e5f6") != nil
	if time.Since(deadSince) < 1500*time.Millisecond {
		// Not pruned at start: it has been DEAD for less than the TTL, so
		// what follows proves the ticker prunes it.
		require.True(t, present, "pruned before its time")
	}

	daemontest.Eventually(t, "d4e5f6 pruned from the file", func() bool {
		return daemontest.Entry(h.disk(), "openai-codex", "d4e5f6") == nil
	})
	doc := h.disk()
	a1 := daemontest.Entry(doc, "openai-codex", "a1b2c3")
	require.NotNil(t, a1, "a device_code entry is never pruned")
	assert.Equal(t, "dead", str(a1["last_status"]))
	assert.Contains(t, h.Stderr.String(), "credential pruned")
}

// A corrupt auth.json is never written over and health says degraded; once
// repaired, health is ok again and the change made meanwhile reaches the
// file.
func TestCorruptFileDegradedThenRepaired(t *testing.T) {
	t.Parallel()
	fx := secretFixture(t, nil)
	h := start(t, fx, daemontest.Options{})
	good, err := os.ReadFile(h.AuthFile)
	require.NoError(t, err)
	f := h.follow()

	// Cut inside a token, so a parser error quoting the text would leak.
	cut := strings.Index(string(good), "sk-SECRET-") + len("sk-SECRET-e2e-12")
	corrupt := good[:cut]
	writeAtomically(t, h.AuthFile, corrupt)
	daemontest.Eventually(t, "health degraded", func() bool {
		hl := h.health()
		return hl.Status == "degraded" && hl.LastError != nil
	})
	daemontest.NoSecret(t, "health", apitype.Value(h.health().LastError))
	f.wait(t, "file.error", "")

	// Still serving the last good state; the mark must wait.
	sel, err := h.Client.Select(bg, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)
	_, err = h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: sel.Credential.ID, StatusCode: 401, Reason: "token_revoked"})
	require.NoError(t, err)
	// Several ticks (100ms each) and the debounce: a wrong write would show.
	time.Sleep(600 * time.Millisecond)
	now, err := os.ReadFile(h.AuthFile)
	require.NoError(t, err)
	assert.Equal(t, string(corrupt), string(now), "the daemon wrote over a corrupt file")
	assert.Equal(t, "degraded", h.health().Status)

	writeAtomically(t, h.AuthFile, good)
	daemontest.Eventually(t, "health ok", func() bool { return h.health().Status == "ok" })
	daemontest.Eventually(t, "the mark made while degraded reaches the file", func() bool {
		return str(entryOf(t, h.disk(), "openrouter", sel.Credential.ID)["last_status"]) == "dead"
	})
}

// writeAtomically replaces path with b by a rename under auth.lock, as a
// careful writer would (without the lock, a daemon write that read the file
// before our rename would replace our bytes with its own).
func writeAtomically(t testing.TB, path string, b []byte) {
	t.Helper()
	lk := flock.New(filepath.Join(filepath.Dir(path), "auth.lock"))
	require.NoError(t, lk.Lock())
	defer func() { require.NoError(t, lk.Unlock()) }()
	tmp := filepath.Join(filepath.Dir(path), ".e2e-tmp")
	require.NoError(t, os.WriteFile(tmp, b, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// SIGTERM exits 0 and leaves no socket; a second daemon on the same socket
// is refused and names the running one; kill -9 then restart works.
func TestProcessLifecycle(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})

	second := h.Command()
	out, err := second.CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "a second daemon must fail: %s", out)
	assert.NotEqual(t, 0, exitErr.ExitCode())
	assert.Regexp(t, regexp.MustCompile(`pid `+strconv.Itoa(h.Pid())+`\b`), string(out), "the message names the running daemon")
	require.Equal(t, "ok", h.health().Status, "the first daemon keeps serving")

	h.Kill9()
	_, err = os.Lstat(h.Socket)
	require.NoError(t, err, "kill -9 leaves the socket file behind")
	sel := credpool(t, h.paths(), "", "select", "openrouter")
	assert.Equal(t, 3, sel.code, "a stale socket is 'not reachable': %s", sel.stderr)

	require.NoError(t, h.Restart(), "restart after kill -9 (stale socket)")
	_, err = h.Client.Select(bg, "openrouter", apitype.SelectRequest{})
	require.NoError(t, err)

	require.NoError(t, h.Stop(), "SIGTERM gives exit 0")
	_, err = os.Lstat(h.Socket)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket left after SIGTERM: %v", err)
	assert.Contains(t, h.Stderr.String(), "credpool daemon stopped")
}

// Unknown fields at the top level, in providers and in entries survive many
// daemon writes unchanged, numbers with their original representation.
func TestUnknownFieldsSurviveManyWrites(t *testing.T) {
	t.Parallel()
	fx := secretFixture(t, func(doc map[string]any) {
		doc["x_e2e_top"] = map[string]any{"big": json.Number("12345678901234567890"), "float": json.Number("1.50"), "s": "é ✓ \u2028", "null": nil}
		provs := doc["providers"].(map[string]any)
		provs["openai-codex"].(map[string]any)["x_e2e_provider"] = []any{json.Number("1.0"), "two", nil, map[string]any{"deep": true}}
		provs["x_e2e_unknown_provider"] = map[string]any{"anything": json.Number("-0.0")}
		for _, list := range doc["credential_pool"].(map[string]any) {
			for _, e := range list.([]any) {
				e := e.(map[string]any)
				e["x_e2e_entry"] = map[string]any{"id": e["id"], "n": json.Number("3.000"), "list": []any{json.Number("1e3")}}
			}
		}
	})
	orig := decode(t, fx)
	h := start(t, fx, daemontest.Options{Args: []string{"--prune-dead-after", "0"}})

	// A day of traffic: 200 marks and 200 resets, each one a write, with
	// selects (batched counter writes) in between.
	ids := []string{"9f8e7d", "77aa11"}
	codes := []struct {
		code   int
		reason string
	}{{429, "rate_limit_exceeded"}, {402, ""}, {401, "token_invalidated"}, {503, ""}, {401, ""}}
	for i := 0; i < 200; i++ {
		id := ids[i%2]
		c := codes[i%len(codes)]
		_, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: id, StatusCode: c.code, Reason: c.reason})
		require.NoError(t, err)
		if i%10 == 0 {
			_, _ = h.Client.Select(bg, "openrouter", apitype.SelectRequest{})
			_, _ = h.Client.Select(bg, "openai-codex", apitype.SelectRequest{})
		}
		_, err = h.Client.Reset(bg, "openrouter", id)
		require.NoError(t, err)
	}
	_, err := h.Client.Report(bg, "openai-codex", apitype.ReportRequest{CredentialID: "a1b2c3", StatusCode: 429})
	require.NoError(t, err)
	daemontest.Eventually(t, "the last write on disk", func() bool {
		return str(entryOf(t, h.disk(), "openai-codex", "a1b2c3")["last_status"]) == "exhausted"
	})
	require.NoError(t, h.Stop()) // flushes the batched counters
	after := decode(t, mustRead(t, h.AuthFile))

	// What the daemon may change: its status fields, counters, updated_at.
	mutable := map[string]bool{"updated_at": true, "last_status": true, "last_status_at": true, "last_error_code": true,
		"last_error_reason": true, "last_error_message": true, "last_error_reset_at": true, "failure_reason": true,
		"status_cleared_at": true, "request_count": true}
	for k, v := range orig {
		if mutable[k] || k == "credential_pool" {
			continue
		}
		assert.Equal(t, v, after[k], "top-level %q changed", k)
	}
	origPools := orig["credential_pool"].(map[string]any)
	afterPools, _ := after["credential_pool"].(map[string]any)
	require.Len(t, afterPools, len(origPools))
	for provider, list := range origPools {
		for _, e := range list.([]any) {
			oe := e.(map[string]any)
			ae := daemontest.Entry(after, provider, str(oe["id"]))
			require.NotNil(t, ae, "entry %s/%s lost", provider, oe["id"])
			for k, v := range oe {
				if !mutable[k] {
					assert.Equal(t, v, ae[k], "entry %s/%s field %q changed", provider, oe["id"], k)
				}
			}
		}
	}
	raw := string(mustRead(t, h.AuthFile))
	for _, lit := range []string{"12345678901234567890", "1.50", "3.000", "1e3", "-0.0"} {
		assert.Contains(t, raw, lit, "number literal %s rewritten", lit)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
