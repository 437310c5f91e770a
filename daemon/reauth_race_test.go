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

// TestRapidReloginsAlwaysRecover re-logs in right after each DEAD mark, so
// that Hermes' write races the daemon's own write for auth.lock. Every round
// must end with the fresh token in rotation (see pool's
// TestReauthWhileOurWriteWaitsForTheLock for the sequence it once lost).
func TestRapidReloginsAlwaysRecover(t *testing.T) {
	h := start(t, fixture(t), func(c *Config) { c.Pool.Now = time.Now })
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		_, err := h.client.Report(ctx, "openrouter", apitype.ReportRequest{CredentialID: "77aa11", StatusCode: 401, Reason: "token_invalidated"})
		require.NoError(t, err)
		if i%2 == 0 {
			time.Sleep(time.Duration(i%7) * time.Millisecond)
		}
		tok := fmt.Sprintf("sk-new-%d", i)
		daemontest.HermesWrite(t, h.auth, func(doc map[string]any) {
			daemontest.Entry(doc, "openrouter", "77aa11")["access_token"] = tok
		})
		deadline := time.Now().Add(3 * time.Second)
		for {
			v, err := h.client.Pool(ctx, "openrouter")
			require.NoError(t, err)
			var e apitype.Entry
			for _, x := range v.Entries {
				if x.ID == "77aa11" {
					e = x
				}
			}
			if e.Available && apitype.Value(e.TokenHint) == tok[len(tok)-4:] {
				break
			}
			if time.Now().After(deadline) {
				d, _ := diskEntry(t, h.auth, "openrouter", "77aa11")
				t.Fatalf("round %d: still %s with the new token (disk: %s)", i, e.Status, d.LastStatus)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
