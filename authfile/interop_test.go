package authfile

import (
	"context"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// hermesWrite changes auth.json the way Hermes does: under fcntl.flock on
// auth.lock, load, change, json.dumps(indent=2) to a temp file, os.replace.
const hermesWrite = `
import fcntl, json, os, sys
path, lock = sys.argv[1], sys.argv[2]
with open(lock, "a+") as lf:
    fcntl.flock(lf.fileno(), fcntl.LOCK_EX)
    with open(path, encoding="utf-8-sig") as f:
        store = json.load(f)
    pool = store["credential_pool"]["openrouter"]
    for e in pool:
        if e["id"] == "77aa11":
            e.update(last_status="exhausted", last_status_at=2000.5, last_error_code=429,
                     last_error_reason="rate_limit_exceeded", last_error_message="slow down",
                     last_error_reset_at=None)
        if e["id"] == "9f8e7d":
            e["access_token"] = "sk-or-v1-relogged-in"
    pool.append({"id": "feed01", "label": "hermes-added", "auth_type": "api_key", "priority": 9,
                 "source": "manual", "access_token": "sk-hermes", "request_count": 0, "x_hermes": [1]})
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(store, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
`

// TestUpdateWithPoolSync: between our read and our write Hermes marks an
// entry, re-authenticates another and adds a third. The pool's Sync inside
// Update changes only what is ours to change.
func TestUpdateWithPoolSync(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	path := writeSample(t, t.TempDir())
	s := NewStore(path)
	stale, _, err := s.Read()
	require.NoError(t, err)
	p := pool.New(pool.Config{})
	p.Load(stale.Snapshot())
	// About tokens that Hermes replaces meanwhile: not applied.
	_, err = p.Report("openrouter", pool.Report{CredentialID: "9f8e7d", StatusCode: 401, Reason: "token_revoked"})
	require.NoError(t, err)
	_, _, err = p.Remove("openrouter", "abc123")
	require.NoError(t, err)
	for range 2 {
		sel, err := p.Select("openrouter", pool.SelectOptions{})
		require.NoError(t, err)
		require.Equal(t, "77aa11", sel.Credential.ID)
	}

	out, err := exec.Command(py, "-c", hermesWrite, path, s.LockPath()).CombinedOutput()
	require.NoError(t, err, string(out))

	_, err = s.Update(context.Background(), func(f *File) error {
		p.Sync(f.Snapshot())
		return nil
	})
	require.NoError(t, err)

	f, _, err := s.Read()
	require.NoError(t, err)
	e := findEntry(t, f, "openrouter", "77aa11")
	assert.Equal(t, pool.StatusExhausted, e.LastStatus, "Hermes' mark is kept")
	assert.Equal(t, 2000.5, e.LastStatusAt)
	assert.Equal(t, 3, e.RequestCount, "our counts are added (the report's next and two selects)")
	assert.Equal(t, "kept verbatim by every writer", string(e.Extra["x_team_note"][1:30]))

	e = findEntry(t, f, "openrouter", "9f8e7d")
	assert.Equal(t, "sk-or-v1-relogged-in", e.AccessToken)
	assert.NotEqual(t, pool.StatusDead, e.LastStatus, "a mark about replaced tokens is dropped")
	assert.Equal(t, pool.Status(""), e.LastStatus, "the re-login ends the cooldown Hermes left on it (rule 1)")

	e = findEntry(t, f, "openrouter", "feed01")
	assert.Equal(t, "hermes-added", e.Label, "Hermes' new entry survives")
	assert.JSONEq(t, `[1]`, string(e.Extra["x_hermes"]))

	for _, e := range f.Pools["openrouter"] {
		assert.NotEqual(t, "abc123", e.ID, "our removal is carried out")
	}
	assert.Len(t, f.Pools["openai-codex"], 2)
}
