package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// TestCLIReadsItsOwnWrites is issue 8 point 4: with a daemon running,
// `credpool add` then `credpool select` found no credential 10 times in
// 20, `remove` then `select` served the removed key 8 times in 20, and
// `add` then `status` did not show the new entry, because the command line
// changed the file and returned before the daemon had read it. It guards
// the admin commands going through the daemon's API, whose answers come
// once the daemon serves the change and has written it: 200 add→select and
// 200 remove→select pairs (50 with -short), 0 misses.
func TestCLIReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	pairs := 200
	if testing.Short() {
		pairs = 50
	}
	fixture, _ := stalePool(t, 1, nil)
	h := start(t, fixture, daemontest.Options{})
	const provider = "readyourwrites"
	var addMiss, removeMiss, statusMiss int
	for i := range pairs {
		tok := accessToken(t)
		label := "ryw-" + randHex(t)
		add := h.credpool(tok+"\n", "add", provider, "--label", label)
		require.Equal(t, 0, add.code, "add %d: %s", i, add.stderr)
		daemontest.NoSecret(t, "credpool add", add.stdout+add.stderr)
		fields := strings.Fields(add.stdout) // added ID "LABEL" to PROVIDER ...
		require.GreaterOrEqual(t, len(fields), 2, "add's answer: %q", add.stdout)
		id := fields[1]

		sel := h.credpool("", "select", provider, "--token")
		if sel.code != 0 || strings.TrimSpace(sel.stdout) != tok {
			addMiss++
		}
		if i%20 == 0 {
			st := h.credpool("", "status", provider)
			if st.code != 0 || !strings.Contains(st.stdout, label) || !strings.Contains(st.stdout, id) {
				statusMiss++
			}
			daemontest.NoSecret(t, "credpool status", st.stdout+st.stderr)
		}

		rm := h.credpool("", "remove", provider, id)
		require.Equal(t, 0, rm.code, "remove %d: %s", i, rm.stderr)
		sel = h.credpool("", "select", provider, "--token")
		if sel.code == 0 || strings.Contains(sel.stdout, tok) {
			removeMiss++ // the only entry was removed: nothing may be handed out
		}
	}
	assert.Zero(t, addMiss, "add then select: no credential (or another one), in %d pairs", pairs)
	assert.Zero(t, removeMiss, "remove then select: the removed key was served, in %d pairs", pairs)
	assert.Zero(t, statusMiss, "add then status: the new entry is not shown")
	// Every one of them is gone from the file too.
	assert.Empty(t, daemontest.Entries(h.disk(), provider))
}
