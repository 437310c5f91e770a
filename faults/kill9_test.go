package faults

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// TestKill9UnderLoad kills the daemon with SIGKILL at random moments while
// agents select and report and a Hermes-style process churns the file. After
// each kill, with auth.lock held so the writer is paused: auth.json parses,
// no id is on disk twice, every fixture entry is there, the churn pool is
// exactly what the writer's log says (nothing lost, nothing resurrected, no
// old token written back), and a restarted daemon serves a select.
func TestKill9UnderLoad(t *testing.T) {
	needPython(t)
	kills := envInt(t, "FAULTS_KILLS", 50)
	d := daemontest.Start(t, daemontest.Options{Fixture: baseFixture(t), Args: baseArgs})
	stop := filepath.Join(t.TempDir(), "stop")
	writer, logPath := hermesWriter(t, d.AuthFile, 0, "--seconds", "600", "--stop-file", stop, "--sleep-ms", "8")
	rng := rand.New(rand.NewPCG(7, 7))

	for i := range kills {
		ld := startLoad(d.Client, 2, 0.2, false)
		// Kill at a random moment of 20..200 ms of load.
		time.Sleep(time.Duration(20+rng.IntN(180)) * time.Millisecond)
		d.Kill9()
		ld.stop()
		require.False(t, d.Running(), "cycle %d: daemon survived SIGKILL", i)

		withAuthLock(t, d.AuthFile, func() {
			raw, err := os.ReadFile(d.AuthFile)
			require.NoError(t, err, "cycle %d", i)
			checkDoc(t, decode(t, raw), readOps(t, logPath), 0)
		})
		if t.Failed() {
			t.Fatalf("cycle %d: auth.json is wrong after kill -9 (daemon stderr:\n%s)", i, d.Stderr.String())
		}

		require.NoError(t, d.Restart(), "cycle %d: restart after kill -9", i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h, err := d.Client.Health(ctx)
		require.NoError(t, err)
		daemontest.NoSecret(t, "health's last_error", apitype.Value(h.LastError))
		assert.Equal(t, "ok", h.Status, "cycle %d: health after restart: %s", i, apitype.Value(h.LastError))
		_, err = d.Client.Select(ctx, countPool, apitype.SelectRequest{})
		cancel()
		require.NoError(t, err, "cycle %d: select after restart", i)
	}

	require.NoError(t, os.WriteFile(stop, nil, 0o600))
	writer.Wait(10 * time.Second)
	require.NoError(t, d.Stop(), "SIGTERM after the kill cycles")
	ops := readOps(t, logPath)
	checkDoc(t, daemontest.ReadDoc(t, d.AuthFile), ops, 0)
	// A write cut short by SIGKILL leaves its temp file (0600, same
	// directory); nothing in the contract removes it, so it is only counted.
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(d.AuthFile), ".auth.json.tmp-*"))
	t.Logf("%d kills, %d writer operations, %d temp files left by killed writes", kills, len(ops), len(leftovers))
}
