package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// `select P --token` prints the token and nothing else, for $(...) use.
func TestCLISelectTokenPrintsOnlyTheToken(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	res := h.credpool("", "select", "openrouter", "--token")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, res.stderr)
	tok := strings.TrimSuffix(res.stdout, "\n")
	assert.NotContains(t, tok, "\n", "only one line")
	assert.True(t, strings.HasPrefix(tok, "sk-SECRET-"), "stdout is the token itself: %q", res.stdout)
	found := false
	for _, e := range daemontest.Entries(h.disk(), "openrouter") {
		found = found || e.(map[string]any)["access_token"] == tok
	}
	assert.True(t, found, "the printed token is an openrouter entry's access token")

	// Without --token the token is not shown.
	res = h.credpool("", "select", "openrouter")
	require.Equal(t, 0, res.code, res.stderr)
	daemontest.NoSecret(t, "credpool select without --token", res.stdout+res.stderr)
}

// add reads the secret from stdin and changes the file under auth.lock, with
// and without a running daemon; remove and reset likewise.
func TestCLIAdminCommands(t *testing.T) {
	t.Parallel()
	t.Run("with a running daemon", func(t *testing.T) {
		t.Parallel()
		h := start(t, secretFixture(t, nil), daemontest.Options{})
		f := h.follow()
		tok := accessToken(t)
		res := h.credpool(tok+"\n", "add", "openrouter", "--label", "added-e2e")
		require.Equal(t, 0, res.code, res.stderr)
		assert.Contains(t, res.stdout, "added")
		daemontest.NoSecret(t, "credpool add", res.stdout+res.stderr)

		e := diskEntryByLabel(t, h.disk(), "openrouter", "added-e2e")
		require.NotNil(t, e, "the entry is in the file")
		assert.Equal(t, tok, e["access_token"])
		assert.Equal(t, "manual", e["source"])
		assert.Equal(t, "api_key", e["auth_type"])
		id := str(e["id"])
		f.wait(t, "entry.added", id)
		daemontest.Eventually(t, "the daemon serves the added entry", func() bool {
			v, err := h.Client.Pool(bg, "openrouter")
			if err != nil {
				return false
			}
			for _, en := range v.Entries {
				if en.ID == id {
					return en.Available && apitype.Value(en.TokenHint) == tok[len(tok)-4:]
				}
			}
			return false
		})

		// reset clears a mark the daemon made.
		_, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: id, StatusCode: 429})
		require.NoError(t, err)
		daemontest.Eventually(t, "429 on disk", func() bool {
			return str(entryOf(t, h.disk(), "openrouter", id)["last_status"]) == "exhausted"
		})
		res = h.credpool("", "reset", "openrouter", id)
		require.Equal(t, 0, res.code, res.stderr)
		assert.Contains(t, res.stdout, "reset 1 entry")
		st := str(entryOf(t, h.disk(), "openrouter", id)["last_status"])
		assert.Contains(t, []string{"", "ok"}, st, "reset written to the file")
		f.wait(t, "entry.recovered", id)

		res = h.credpool("", "remove", "openrouter", "added-e2e")
		require.Equal(t, 0, res.code, res.stderr)
		assert.Nil(t, daemontest.Entry(h.disk(), "openrouter", id), "removed from the file")
		f.wait(t, "entry.removed", id)
		daemontest.Eventually(t, "the daemon drops the removed entry", func() bool {
			v, err := h.Client.Pool(bg, "openrouter")
			return err == nil && len(v.Entries) == 3
		})
	})
	t.Run("without a daemon", func(t *testing.T) {
		t.Parallel()
		p := offlinePaths(t, secretFixture(t, nil))
		tok := accessToken(t)

		// The command waits for auth.lock, as Hermes's writes do.
		lk := flock.New(filepath.Join(filepath.Dir(p.auth), "auth.lock"))
		require.NoError(t, lk.Lock())
		type result struct {
			res cliResult
			err error
		}
		done := make(chan result, 1)
		bin := daemontest.Binary(t)
		go func() {
			res, err := runCredpool(bin, p, true, tok+"\n", "add", "openrouter", "--label", "offline-e2e", "--type", "oauth")
			done <- result{res, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("add finished while another process held auth.lock: %+v %v", r.res, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		assert.Nil(t, diskEntryByLabel(t, daemontest.ReadDoc(t, p.auth), "openrouter", "offline-e2e"), "written without the lock")
		require.NoError(t, lk.Unlock())
		r := <-done
		require.NoError(t, r.err)
		res := r.res
		require.Equal(t, 0, res.code, res.stderr)
		daemontest.NoSecret(t, "credpool add", res.stdout+res.stderr)

		e := diskEntryByLabel(t, daemontest.ReadDoc(t, p.auth), "openrouter", "offline-e2e")
		require.NotNil(t, e)
		assert.Equal(t, tok, e["access_token"])
		assert.Equal(t, "oauth", e["auth_type"])
		id := str(e["id"])
		assert.Regexp(t, `^[0-9a-f]{6}$`, id)

		// A daemon started later serves it.
		h := start(t, nil, daemontest.Options{Dir: p.home})
		v, err := h.Client.Pool(bg, "openrouter")
		require.NoError(t, err)
		ids := []string{}
		for _, en := range v.Entries {
			ids = append(ids, en.ID)
		}
		assert.Contains(t, ids, id)
	})
}

func diskEntryByLabel(t testing.TB, doc map[string]any, provider, label string) map[string]any {
	t.Helper()
	for _, e := range daemontest.Entries(doc, provider) {
		if m := e.(map[string]any); m["label"] == label {
			return m
		}
	}
	return nil
}

// No daemon: exit 3 and say how to start one.
func TestCLINoDaemonExits3(t *testing.T) {
	t.Parallel()
	p := offlinePaths(t, secretFixture(t, nil))
	res := credpool(t, p, "", "select", "openrouter")
	assert.Equal(t, 3, res.code, res.stderr)
	assert.Contains(t, res.stderr, "credpool daemon", "the message says how to start it")
	assert.Contains(t, res.stderr, p.socket, "the message names the socket")
	assert.Empty(t, res.stdout)
}

// Nothing available: exit 4, saying when the next one is free, or that only
// DEAD ones remain.
func TestCLINoneAvailableExits4(t *testing.T) {
	t.Parallel()
	h := start(t, secretFixture(t, nil), daemontest.Options{})
	for _, r := range []apitype.ReportRequest{
		{CredentialID: "9f8e7d", StatusCode: 429},
		{CredentialID: "77aa11", StatusCode: 401, Reason: "token_revoked"},
	} {
		_, err := h.Client.Report(bg, "openrouter", r)
		require.NoError(t, err)
	}
	res := h.credpool("", "select", "openrouter", "--token")
	assert.Equal(t, 4, res.code, res.stderr)
	assert.Empty(t, res.stdout, "no token printed")
	assert.Contains(t, res.stderr, "available at")

	_, err := h.Client.Report(bg, "openrouter", apitype.ReportRequest{CredentialID: "9f8e7d", StatusCode: 401, Reason: "invalid_grant"})
	require.NoError(t, err)
	res = h.credpool("", "select", "openrouter")
	assert.Equal(t, 4, res.code, res.stderr)
	assert.Contains(t, res.stderr, "only DEAD")
}

// Command-line mistakes exit 2, before any daemon is needed.
func TestCLIUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	p := offlinePaths(t, secretFixture(t, nil))
	before := mustRead(t, p.auth)
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"select without provider", "", []string{"select"}},
		{"select with two providers", "", []string{"select", "a", "b"}},
		{"unknown flag", "", []string{"select", "openrouter", "--no-such-flag"}},
		{"report without id", "", []string{"report", "openrouter", "--status", "429"}},
		{"report without status", "", []string{"report", "openrouter", "--id", "77aa11"}},
		{"add without provider", "sk-x\n", []string{"add"}},
		{"add with a bad type", "sk-x\n", []string{"add", "openrouter", "--type", "password"}},
		{"add without a secret", "", []string{"add", "openrouter"}},
		{"remove without target", "", []string{"remove", "openrouter"}},
		{"unknown command", "", []string{"frobnicate"}},
		{"bad duration", "", []string{"select", "openrouter", "--wait", "1h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := credpool(t, p, tc.stdin, tc.args...)
			assert.Equal(t, 2, res.code, "stdout %q stderr %q", res.stdout, res.stderr)
			assert.NotEmpty(t, res.stderr, "a usage error says what is wrong")
		})
	}
	t.Cleanup(func() {
		assert.Equal(t, string(before), string(mustRead(t, p.auth)), "a usage error changed the file")
	})
}

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	p := offlinePaths(t, nil)
	res, err := runCredpool(daemontest.Binary(t), p, false, "", "version")
	require.NoError(t, err)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Regexp(t, `^credpool \S+\n$`, res.stdout)
	_, err = os.Stat(p.auth)
	assert.True(t, os.IsNotExist(err), "version must not create auth.json")

	// The help says "every command takes --config, --auth-file and
	// --socket"; scripts pass them to every call.
	res = credpool(t, p, "", "version")
	assert.Equal(t, 0, res.code, "version with the common flags: %s", res.stderr)
}
