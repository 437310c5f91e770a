package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// TestRapidReloginsAlwaysRecover re-logs in (as Hermes: flock, new token,
// status left as it found it, rename) while the daemon is marking the old
// token DEAD, so that Hermes' write and the daemon's write of the mark
// contend for auth.lock. A report is answered only once its write is on
// disk, so the re-login cannot wait for the answer; each round races it one
// of two ways:
//
//   - even rounds send the report and start Hermes' write at the same
//     moment (Hermes a little later each round): either write may take the
//     lock first, and the report may even reach the daemon after it has
//     read the new token;
//   - odd rounds hold auth.lock while the report is made, so the DEAD mark
//     is in memory but not on disk, then free it and re-log in at once:
//     the daemon's write (retried while the lock is busy) and its reload of
//     Hermes' write meet a row whose tokens changed under a status that
//     never held the mark.
//
// The report names the token it is about (api_key_hint), as agents do, so a
// report that comes after the re-login is about a gone token. Every round
// must end with the fresh token in rotation (see pool's
// TestReauthWhileOurWriteWaitsForTheLock for a sequence this once lost).
func TestRapidReloginsAlwaysRecover(t *testing.T) {
	h := start(t, fixture(t), func(c *Config) { c.Pool.Now = time.Now })
	ctx := context.Background()
	old, ok := diskEntry(t, h.auth, "openrouter", "77aa11")
	require.True(t, ok)
	prev := old.AccessToken
	var markedFirst, reloginFirst int
	for i := 0; i < 120; i++ {
		tok := fmt.Sprintf("sk-new-%d", i)
		var release func()
		if i%2 == 1 {
			_, release = daemontest.HoldLock(t, h.auth)
		}
		type answer struct {
			rep apitype.ReportResponse
			err error
		}
		reported := make(chan answer, 1)
		go func() {
			rep, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", APIKeyHint: prev,
				StatusCode: 401, Reason: "token_invalidated"})
			reported <- answer{rep, err}
		}()
		if release != nil {
			daemontest.Eventually(t, fmt.Sprintf("round %d: the DEAD mark in memory while auth.lock is held", i), func() bool {
				return h.entry(t, "openrouter", "77aa11").Status == "dead"
			})
			release()
		} else {
			time.Sleep(time.Duration(i%7) * 250 * time.Microsecond)
		}
		daemontest.HermesWrite(t, h.auth, func(doc map[string]any) {
			daemontest.Entry(doc, "openrouter", "77aa11")["access_token"] = tok
		})
		a := <-reported
		require.NoError(t, a.err, "round %d", i)
		if a.rep.Marked != nil {
			markedFirst++
		} else {
			reloginFirst++
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			e := h.entry(t, "openrouter", "77aa11")
			if e.Available && apitype.Value(e.TokenHint) == tok[len(tok)-4:] {
				break
			}
			if time.Now().After(deadline) {
				d, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
				t.Fatalf("round %d: still %s with the new token (disk: %s)", i, e.Status, d.LastStatus)
			}
			time.Sleep(time.Millisecond)
		}
		prev = tok
	}
	t.Logf("%d rounds marked the old token before the daemon read the re-login, %d came after it", markedFirst, reloginFirst)
}
