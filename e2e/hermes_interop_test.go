package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
)

// realHermes runs testdata/hermes_pool.py: the real Hermes pool code of
// shared/hermes (beside the repository, or beside one of its parents)
// against the daemon's auth.json, with Debian's Python and the three
// packages that code imports.
type realHermes struct {
	t          testing.TB
	py, script string
	env        []string
}

// newRealHermes skips the test, saying what is missing, where the Hermes
// snapshot or its Python packages are not there.
func newRealHermes(t testing.TB, authFile string) *realHermes {
	t.Helper()
	py, src := hermesCheckout(t)
	script, err := filepath.Abs(filepath.Join("testdata", "hermes_pool.py"))
	require.NoError(t, err)
	// One HOME for every run, as one user's Hermes has.
	env := append(hermesEnv(t, authFile), "HERMES_SRC="+src)
	return &realHermes{t: t, py: py, script: script, env: env}
}

// run runs one command of hermes_pool.py, in hermesEnv, and decodes its
// JSON output.
func (r *realHermes) run(stdin string, out any, args ...string) {
	r.t.Helper()
	cmd := exec.Command(r.py, append([]string{r.script}, args...)...)
	cmd.Env = r.env
	cmd.Stdin = bytes.NewReader([]byte(stdin))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(r.t, cmd.Run(), "hermes_pool.py %v:\n%s", args, stderr.String())
	daemontest.NoSecret(r.t, "Hermes' stderr", stderr.String())
	require.NoError(r.t, json.Unmarshal(stdout.Bytes(), out), "hermes_pool.py %v printed %q", args, excerpt(stdout.Bytes()))
}

// benchModel benches aaaaaa of provider for model through the daemon and
// returns the cooldown's end.
func benchModel(t *testing.T, h *harness, provider, model string) float64 {
	t.Helper()
	res, err := h.Client.Report(bg, provider, apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 403, Model: model,
		FailureReason: "model_entitlement", Reason: "model_not_found"})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	require.Equal(t, model, res.Marked.Model)
	require.True(t, res.Persisted)
	return apitype.Value(res.Marked.Until)
}

// row is the entry with id of the rows Hermes read.
func row(t *testing.T, rows []map[string]any, id string) map[string]any {
	t.Helper()
	for _, r := range rows {
		if r["id"] == id {
			return r
		}
	}
	t.Fatalf("Hermes read no row %s", id)
	return nil
}

// The model cooldowns credpool writes are what the Hermes pool code reads.
func TestHermesReadsCredpoolsModelCooldowns(t *testing.T) {
	t.Parallel()
	h := start(t, twoKeys(t, "anthropic"), daemontest.Options{})
	hermes := newRealHermes(t, h.AuthFile)
	const model = "claude-opus-4-1"
	res, err := h.Client.Report(bg, "anthropic", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 429, Model: model})
	require.NoError(t, err)
	require.True(t, res.Persisted)
	until := apitype.Value(res.Marked.Until)

	var rows []map[string]any
	hermes.run("", &rows, "read", "anthropic")
	a := row(t, rows, "aaaaaa")
	cooldowns, _ := a["model_cooldowns"].(map[string]any)
	observed, _ := a["model_cooldown_observed_at"].(map[string]any)
	require.Contains(t, cooldowns, model, "Hermes reads the row credpool wrote: %v", a)
	assert.InDelta(t, until, cooldowns[model], 1e-3)
	require.Contains(t, observed, model)
	assert.InDelta(t, until-3600, observed[model], 1, "observed when the 429 came (3600 s before its end)")
	assert.Nil(t, a["last_status"], "the credential itself stays ok")
	assert.NotContains(t, row(t, rows, "bbbbbb"), "model_cooldowns")
}

// A reset written the way newer Hermes' `hermes auth reset` writes it
// (status cleared, status_cleared_at set; the model cooldowns left on the
// row) ends credpool's model cooldowns observed before it.
func TestHermesResetClearsModelCooldowns(t *testing.T) {
	t.Parallel()
	h := start(t, twoKeys(t, "openrouter"), daemontest.Options{})
	hermes := newRealHermes(t, h.AuthFile)
	const model = "openai/gpt-5"
	benchModel(t, h, "openrouter", model)
	require.Equal(t, "bbbbbb", selectID(t, h, "openrouter", model))

	// Hermes stamps the reset with its own clock after the report was
	// answered: at or after the cooldown was observed, which voids it.
	var reset struct {
		StatusClearedAt float64 `json:"status_cleared_at"`
	}
	hermes.run("", &reset, "reset", "openrouter")
	daemontest.Eventually(t, "the daemon reads Hermes' reset", func() bool {
		v, err := h.Client.Pool(bg, "openrouter")
		return err == nil && len(v.Entries[0].ModelCooldowns) == 0
	})
	assert.Equal(t, "aaaaaa", selectID(t, h, "openrouter", model), "the key serves the model again")
	daemontest.Eventually(t, "the void cooldown is gone from auth.json too", func() bool {
		e := entryOf(t, h.disk(), "openrouter", "aaaaaa")
		m, _ := e["model_cooldowns"].(map[string]any)
		return len(m) == 0
	})
	e := entryOf(t, h.disk(), "openrouter", "aaaaaa")
	cleared, err := e["status_cleared_at"].(json.Number).Float64()
	require.NoError(t, err)
	assert.InDelta(t, reset.StatusClearedAt, cleared, 1e-3, "Hermes' reset stays on the row")
}

// This Hermes snapshot drops the row keys it does not know when it
// rewrites a row (PooledCredential.to_dict keeps only its own fields), so
// any mark by a Hermes session writes every row of the provider back
// without credpool's model cooldowns. That is a stale snapshot of the same
// token generation with no newer reset: credpool keeps its cooldowns,
// writes them back, and keeps Hermes' own mark.
func TestCredpoolRestoresModelCooldownsAfterAStaleHermesRewrite(t *testing.T) {
	t.Parallel()
	fixture := twoKeys(t, "openrouter")
	h := start(t, fixture, daemontest.Options{})
	hermes := newRealHermes(t, h.AuthFile)
	const model = "openai/gpt-5"
	until := benchModel(t, h, "openrouter", model)
	f := h.follow()

	spare := entryOf(t, decode(t, fixture), "openrouter", "bbbbbb")["access_token"].(string)
	var marked struct {
		Next *string `json:"next"`
	}
	hermes.run(spare, &marked, "mark", "openrouter", "429")
	require.NotNil(t, marked.Next)
	assert.Equal(t, "aaaaaa", *marked.Next, "this Hermes knows nothing of model cooldowns")

	// Hermes' mark of bbbbbb reached the daemon ...
	f.wait(t, "entry.exhausted", "bbbbbb")
	// ... and the rows it rewrote lost credpool's cooldown, which credpool
	// writes back.
	daemontest.Eventually(t, "credpool writes its model cooldown back", func() bool {
		e := entryOf(t, h.disk(), "openrouter", "aaaaaa")
		m, _ := e["model_cooldowns"].(map[string]any)
		return m[model] != nil
	})
	e := entryOf(t, h.disk(), "openrouter", "aaaaaa")
	got, err := e["model_cooldowns"].(map[string]any)[model].(json.Number).Float64()
	require.NoError(t, err)
	assert.InDelta(t, until, got, 1e-3, "the same cooldown, not a new one")
	assert.Equal(t, "exhausted", str(entryOf(t, h.disk(), "openrouter", "bbbbbb")["last_status"]), "Hermes' own mark is kept")

	v, err := h.Client.Pool(bg, "openrouter")
	require.NoError(t, err)
	assert.InDelta(t, until, v.Entries[0].ModelCooldowns[model], 1e-3)
	_, err = h.Client.Select(bg, "openrouter", apitype.SelectRequest{Model: model})
	require.ErrorIs(t, err, pool.ErrNoneAvailable, "aaaaaa is benched for the model and bbbbbb is exhausted")
	assert.Equal(t, "aaaaaa", selectID(t, h, "openrouter", "openai/gpt-4.1"), "aaaaaa serves the other models")

	var rows []map[string]any
	hermes.run("", &rows, "read", "openrouter")
	assert.Contains(t, row(t, rows, "aaaaaa"), "model_cooldowns", "Hermes reads the restored cooldown")
}
