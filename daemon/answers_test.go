package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
)

// answersDoc is an auth.json with a pool whose only entry is DEAD, a pool
// of two live keys, and a pool under a long name a caller could not add but
// another writer could have written.
func answersDoc(t *testing.T, longName string) []byte {
	t.Helper()
	row := func(id string, prio int, extra map[string]any) map[string]any {
		r := map[string]any{"id": id, "label": "key-" + id, "auth_type": "api_key", "priority": prio,
			"source": "manual", "access_token": "sk-SECRET-answers-" + id, "request_count": 0}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	dead := map[string]any{"last_status": "dead", "last_status_at": float64(fixtureNow.Unix() - 60),
		"last_error_code": 401, "last_error_reason": "token_revoked"}
	raw, err := json.Marshal(map[string]any{"version": 1, "providers": map[string]any{}, "credential_pool": map[string]any{
		"solo":   []any{row("d0d0d0", 0, dead)},
		"openai": []any{row("aaaaaa", 0, nil), row("bbbbbb", 1, nil)},
		longName: []any{row("e0e0e0", 0, dead)},
	}})
	require.NoError(t, err)
	return raw
}

// TestAnswersWithNothingToWriteDoNotWait: only a change that marks
// something to write waits for the disk. A repair with nothing to repair,
// or a soft error on a DEAD entry, has no write to wait for: its answer
// says persisted (there is nothing that is not), and does not wait out the
// answer timeout for a write that is not coming.
func TestAnswersWithNothingToWriteDoNotWait(t *testing.T) {
	h := start(t, answersDoc(t, "x"), nil)
	ctx := context.Background()

	rep, err := h.client.Repair(ctx, "solo")
	require.NoError(t, err)
	assert.Equal(t, apitype.RepairResponse{Repaired: 0, Persistence: apitype.Persistence{Persisted: true}}, rep)

	res, err := h.client.Report(ctx, "solo", apitype.ReportRequest{CredentialID: "d0d0d0", StatusCode: 429})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.Equal(t, string(pool.StatusDead), res.Marked.Status, "a soft error leaves DEAD as it is")
	assert.Nil(t, res.Next)
	assert.Equal(t, apitype.Persistence{Persisted: true}, res.Persistence)

	// A change that does mark something still waits and is on disk.
	res, err = h.client.Report(ctx, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 429})
	require.NoError(t, err)
	assert.Equal(t, apitype.Persistence{Persisted: true}, res.Persistence)
	e, ok := diskEntry(t, h.auth, "openai", "aaaaaa")
	require.True(t, ok)
	assert.Equal(t, pool.StatusExhausted, e.LastStatus, "answered persisted: it is in the file")
}

// TestSuccessReportKeepsTheCredential: Client.Observe after every success
// neither counts a second use nor hands out a token nobody asked for; a
// success whose headers spend the budget does hand out the next one.
func TestSuccessReportKeepsTheCredential(t *testing.T) {
	h := start(t, answersDoc(t, "x"), nil)
	ctx := context.Background()
	count := func(id string) int {
		v, err := h.client.Pool(ctx, "openai")
		require.NoError(t, err)
		for _, e := range v.Entries {
			if e.ID == id {
				return e.RequestCount
			}
		}
		t.Fatalf("no entry %s", id)
		return 0
	}

	sel, err := h.client.Select(ctx, "openai", apitype.SelectRequest{})
	require.NoError(t, err)
	require.Equal(t, "aaaaaa", sel.Credential.ID)
	require.Equal(t, 1, count("aaaaaa"))

	res, err := h.client.Observe(ctx, "openai", "aaaaaa", 200, map[string][]string{
		"X-Ratelimit-Limit-Requests": {"500"}, "X-Ratelimit-Remaining-Requests": {"120"}, "X-Ratelimit-Reset-Requests": {"30s"}})
	require.NoError(t, err)
	assert.Nil(t, res.Marked)
	assert.Nil(t, res.Next, "the caller keeps the credential it holds")
	assert.Equal(t, 1, count("aaaaaa"), "a success is not a second use")
	assert.Equal(t, 0, count("bbbbbb"))

	res, err = h.client.Observe(ctx, "openai", "aaaaaa", 200, map[string][]string{
		"X-Ratelimit-Limit-Requests": {"500"}, "X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"30s"}})
	require.NoError(t, err)
	assert.Nil(t, res.Marked)
	require.NotNil(t, res.Next, "the budget is spent: the caller needs another")
	assert.Equal(t, "bbbbbb", res.Next.ID)
	assert.Equal(t, 1, count("bbbbbb"))
}

// TestCallerTextInAnswersIsBounded: messages that repeat what a caller
// sent (a provider name in the path, a strategy) quote it escaped and cut,
// through the whole stack; the add's message names the rule once.
func TestCallerTextInAnswersIsBounded(t *testing.T) {
	long := "zz" + strings.Repeat("a", 200) // a pool only another writer could make
	h := start(t, answersDoc(t, long), nil)
	ctx := context.Background()
	huge := "\x1b[2J" + strings.Repeat("x", 100<<10)
	check := func(t *testing.T, err error, code string) string {
		t.Helper()
		var ae *apitype.APIError
		require.True(t, errors.As(err, &ae), "%v", err)
		assert.Equal(t, code, ae.Code)
		assert.Less(t, len(ae.Message), 300, ae.Message)
		assert.NotContains(t, ae.Message, "\x1b")
		return ae.Message
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"select, unknown strategy", func() error {
			_, err := h.client.Select(ctx, "openai", apitype.SelectRequest{Strategy: huge})
			return err
		}, apitype.CodeBadRequest},
		{"select, unknown pool", func() error {
			_, err := h.client.Select(ctx, huge[:2000], apitype.SelectRequest{})
			return err
		}, apitype.CodeUnknownPool},
		{"view, unknown pool", func() error { _, err := h.client.Pool(ctx, huge[:2000]); return err }, apitype.CodeUnknownPool},
		{"report, unknown pool", func() error {
			_, err := h.client.Report(ctx, huge[:2000], apitype.ReportRequest{StatusCode: 429})
			return err
		}, apitype.CodeUnknownPool},
		{"select, nothing available", func() error { _, err := h.client.Select(ctx, long, apitype.SelectRequest{}); return err }, apitype.CodeNoneAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := check(t, tc.call(), tc.code)
			assert.Contains(t, msg, `…"`, "the cut is marked")
		})
	}

	_, err := h.client.AddEntry(ctx, "Bad", apitype.AddRequest{AccessToken: "sk-SECRET-added-0001"})
	msg := check(t, err, apitype.CodeBadRequest)
	assert.Equal(t, `pool: provider name "Bad": upper-case letters are not allowed; provider names are lower case ("bad"): bad input`, msg)
	assert.NotContains(t, h.logs.String(), "SECRET")
}

// TestSelectExcludingEverythingSaysSo: the 503 of a select whose exclude
// leaves nothing says that, not that only dead entries remain.
func TestSelectExcludingEverythingSaysSo(t *testing.T) {
	h := start(t, answersDoc(t, "x"), nil)
	ctx := context.Background()
	_, err := h.client.Select(ctx, "openai", apitype.SelectRequest{Exclude: []string{"aaaaaa", "bbbbbb"}})
	var ae *apitype.APIError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, apitype.CodeNoneAvailable, ae.Code)
	assert.Nil(t, ae.NextAvailableAt)
	assert.Equal(t, `no credential of "openai" is available: the request excludes every one that is or will become available`, ae.Message)

	_, err = h.client.Select(ctx, "solo", apitype.SelectRequest{})
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Contains(t, ae.Message, "none will recover by itself")
}

// An answer that changes nothing but shows a verdict still waiting for the
// disk says so: a 429 on an entry whose DEAD mark cannot be written yet
// answers "dead" with persisted false, not true.
func TestAnswerShowingAPendingVerdictWaitsForIt(t *testing.T) {
	h := start(t, answersDoc(t, "x"), func(c *Config) { c.AnswerTimeout = 200 * time.Millisecond })
	ctx := context.Background()
	_, release := daemontest.HoldLock(t, h.auth)
	defer release()

	res, err := h.client.Report(ctx, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 401, Reason: "token_invalidated"})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.Equal(t, string(pool.StatusDead), res.Marked.Status)
	assert.False(t, res.Persisted, "the lock is held: the DEAD is not on disk")

	res, err = h.client.Report(ctx, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 429})
	require.NoError(t, err)
	require.NotNil(t, res.Marked)
	assert.Equal(t, string(pool.StatusDead), res.Marked.Status)
	assert.False(t, res.Persisted, "the answer shows a DEAD that is not on disk yet")

	release()
	daemontest.Eventually(t, "the DEAD on disk", func() bool {
		d, ok := diskEntry(t, h.auth, "openai", "aaaaaa")
		return ok && d.LastStatus == pool.StatusDead
	})
	res, err = h.client.Report(ctx, "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 429})
	require.NoError(t, err)
	assert.True(t, res.Persisted, "once written, it is")
}

// A report that changes nothing an answer waits for, but something to
// write later (quota readings for credpool's state file), has the io loop
// arm its write: without another request or a tick it reaches the disk.
func TestQuietReportIsWrittenWithoutATick(t *testing.T) {
	h := start(t, answersDoc(t, "x"), func(c *Config) {
		c.Tick = time.Hour
		c.FlushInterval = 50 * time.Millisecond
	})
	_, err := h.client.Report(context.Background(), "openai", apitype.ReportRequest{CredentialID: "aaaaaa", StatusCode: 200,
		Headers: map[string]string{"x-ratelimit-remaining-requests": "7", "x-ratelimit-limit-requests": "10", "x-ratelimit-reset-requests": "50s"}})
	require.NoError(t, err)
	daemontest.Eventually(t, "quota in credpool's state file", func() bool {
		b, err := os.ReadFile(paths.State(h.auth))
		return err == nil && strings.Contains(string(b), "openai/requests")
	})
}
