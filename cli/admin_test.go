package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/internal/atomicfile"
	"github.com/credpool/credpool/internal/testio"
	"github.com/credpool/credpool/paths"
)

// TestOfflineCommandsHonourMaxFileSize: without a daemon, status and the
// admin commands read auth.json themselves, within max_file_size like the
// daemon (they used to read up to authfile's default whatever it said).
func TestOfflineCommandsHonourMaxFileSize(t *testing.T) {
	env, auth := testEnv(t)
	for i := range 12 {
		r := runCLI(t, fmt.Sprintf("sk-or-v1-cli-size-SECRET-%04d\n", i), env, "add", "openrouter", "--label", fmt.Sprintf("%03d-%s", i, strings.Repeat("l", 100)))
		require.Equal(t, ExitOK, r.code, r.stderr.String())
	}
	before, err := os.ReadFile(auth)
	require.NoError(t, err)
	require.Greater(t, len(before), 4<<10)

	r := runCLI(t, "", env, "status")
	require.Equal(t, ExitOK, r.code, r.stderr.String())

	r = runCLI(t, "", env, "status", "--max-file-size", "4KiB")
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr.String(), "over the limit of 4096")

	r = runCLI(t, "", env, "remove", "openrouter", "1", "--max-file-size", "4KiB")
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr.String(), "over the limit of 4096")

	env["CREDPOOL_MAX_FILE_SIZE"] = "4KiB"
	r = runCLI(t, "", env, "status")
	assert.Equal(t, ExitError, r.code, "the environment counts too")
	assert.NotContains(t, r.stdout.String()+r.stderr.String(), "SECRET")

	after, err := os.ReadFile(auth)
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing written")
}

// TestOfflineRemoveStaysRemoved: an offline remove writes credpool's state
// file before auth.json, as the daemon does, so that when a stale writer
// (a Hermes session that loaded the pool before) writes the row back, the
// daemon that starts next drops it again instead of serving it. Before,
// the offline commands ignored the state file and the removal was lost.
func TestOfflineRemoveStaysRemoved(t *testing.T) {
	env, auth := testEnv(t)
	env["GOMEMLIMIT"] = "off" // the daemon below must not set this process's limit
	env["CREDPOOL_EXTERNAL_LOGINS"] = "none"
	for i, label := range []string{"main", "spare"} {
		r := runCLI(t, fmt.Sprintf("sk-or-v1-cli-stale-SECRET-%04d\n", i), env, "add", "openrouter", "--label", label)
		require.Equal(t, ExitOK, r.code, r.stderr.String())
	}
	stale, err := os.ReadFile(auth) // what the stale session holds
	require.NoError(t, err)
	f, _, err := authfile.NewStore(auth).Read()
	require.NoError(t, err)
	removedID := f.Pools["openrouter"][1].ID

	r := runCLI(t, "", env, "remove", "openrouter", "spare")
	require.Equal(t, ExitOK, r.code, r.stderr.String())
	state, err := os.ReadFile(paths.State(auth))
	require.NoError(t, err, "the state file is written")
	assert.Contains(t, string(state), removedID, "with the tombstone")
	assert.NotContains(t, string(state), "SECRET")

	require.NoError(t, atomicfile.WriteFile(auth, stale, atomicfile.Options{}))
	f, _, err = authfile.NewStore(auth).Read()
	require.NoError(t, err)
	require.Len(t, f.Pools["openrouter"], 2, "the stale writer brought the row back")

	ctx, cancel := context.WithCancel(t.Context())
	e := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &testio.SyncBuffer{}, Getenv: func(k string) string { return env[k] }}
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, e, nil) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	s := config.Settings{Socket: env["CREDPOOL_SOCKET"]}
	var ids []string
	require.Eventually(t, func() bool {
		v, err := quickClient(s).Pool(ctx, "openrouter")
		if err != nil {
			return false
		}
		ids = ids[:0]
		for _, en := range v.Entries {
			ids = append(ids, en.ID)
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "the daemon answers")
	assert.NotContains(t, ids, removedID, "the removed entry is not served")
	assert.Len(t, ids, 1)
	require.Eventually(t, func() bool {
		f, _, err := authfile.NewStore(auth).Read()
		return err == nil && len(f.Pools["openrouter"]) == 1 && f.Pools["openrouter"][0].ID != removedID
	}, 10*time.Second, 10*time.Millisecond, "and removed from the file again")
}
