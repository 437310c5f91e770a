package pool

import (
	"strings"
	"testing"
	"time"

	"github.com/credpool/credpool/redact"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReportIdentity(t *testing.T) {
	shared := "sk-shared-token-1234"
	for _, tc := range []struct {
		name      string
		report    func(lease string) Report
		marked    []string // ids that end EXHAUSTED
		unmatched bool
	}{
		{"by credential id", func(string) Report { return Report{CredentialID: "b"} }, []string{"b"}, false},
		{"by lease", func(l string) Report { return Report{LeaseID: l} }, []string{"a"}, false},
		{"by api key hint", func(string) Report { return Report{APIKeyHint: tok("c")} }, []string{"c"}, false},
		{"id wins over hint", func(string) Report { return Report{CredentialID: "b", APIKeyHint: tok("c")} }, []string{"b"}, false},
		{"unknown id falls back to hint", func(string) Report { return Report{CredentialID: "zz", APIKeyHint: tok("c")} }, []string{"c"}, false},
		{"same token marks every holder", func(string) Report { return Report{CredentialID: "s1"} }, []string{"s1", "s2"}, false},
		{"hint of a shared token", func(string) Report { return Report{APIKeyHint: shared} }, []string{"s1", "s2"}, false},
		{"nothing matches", func(string) Report { return Report{CredentialID: "zz", LeaseID: "nope", APIKeyHint: "sk-other"} }, nil, true},
		{"empty identity", func(string) Report { return Report{} }, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {
				ent("a", 0), ent("b", 1), ent("c", 2), ent("s1", 3, withToken(shared)), ent("s2", 4, withToken(shared)), ent("z", 5)}})
			sel, err := p.Select(prov, SelectOptions{Lease: true})
			require.NoError(t, err)
			require.Equal(t, "a", sel.Credential.ID)
			r := tc.report(sel.Lease.ID)
			r.StatusCode = 429
			res, err := p.Report(prov, r)
			require.NoError(t, err)
			assert.Equal(t, tc.unmatched, res.Unmatched)
			require.NotNil(t, res.Next, "the next credential is computed in any case")
			var got []string
			for _, e := range p.pools[prov].entries {
				if e.LastStatus == StatusExhausted {
					got = append(got, e.ID)
				}
			}
			assert.Equal(t, tc.marked, got)
			if tc.unmatched {
				assert.Nil(t, res.Marked)
				assert.Empty(t, res.Changes)
				return
			}
			require.NotNil(t, res.Marked)
			assert.Equal(t, tc.marked[0], res.Marked.ID)
			assert.Len(t, res.Changes, len(tc.marked))
			assertNoSecrets(t, res.Changes, shared, tok("a"), tok("b"), tok("c"))
		})
	}
}

func TestReportReleasesItsLease(t *testing.T) {
	for _, code := range []int{200, 429} {
		t.Run(itoa(code), func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
			sel, err := p.Select(prov, SelectOptions{Lease: true})
			require.NoError(t, err)
			_, err = p.Report(prov, Report{LeaseID: sel.Lease.ID, StatusCode: code})
			require.NoError(t, err)
			assert.ErrorIs(t, p.Release(sel.Lease.ID), ErrUnknownLease)
			assert.Equal(t, 0, viewOf(t, p, prov, "a").Leases)
		})
	}
}

func TestReportCodesThatMarkNothing(t *testing.T) {
	for _, code := range []int{0, 200, 204, 302, 399} {
		t.Run(itoa(code), func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
			res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: code})
			require.NoError(t, err)
			assert.Nil(t, res.Marked)
			assert.False(t, res.Unmatched)
			assert.Nil(t, res.Next, "the caller keeps the credential it holds")
			assert.Equal(t, StatusOK, viewOf(t, p, prov, "a").Status)
			assert.False(t, pending(p), "nothing marked, nothing counted: nothing to write")
		})
	}
}

// TestReportNext pins when a report's answer hands out a next credential
// (and so counts a selection): after every failure, and after a success
// only when the reported credential can no longer be handed out.
func TestReportNext(t *testing.T) {
	spent := openAIHeaders(0, "30s")
	for _, tc := range []struct {
		name    string
		strat   Strategy
		a       []func(*Entry) // the reported entry's state before the report
		report  Report         // CredentialID "a" unless set
		next    string         // "" = none
		order   []string       // the selection order after the report
		counted bool           // next's request_count went up by one
	}{
		{name: "200 keeps the credential", report: Report{StatusCode: 200}, order: []string{"a", "b", "c"}},
		{name: "204 under round_robin does not rotate", strat: RoundRobin, report: Report{StatusCode: 204}, order: []string{"a", "b", "c"}},
		{name: "399 keeps the credential", report: Report{StatusCode: 399}, order: []string{"a", "b", "c"}},
		{name: "200 with budget left keeps it", report: Report{StatusCode: 200, Headers: openAIHeaders(120, "30s")}, order: []string{"a", "b", "c"}},
		{name: "200 that matches no credential", report: Report{CredentialID: "zz", StatusCode: 200}, order: []string{"a", "b", "c"}},
		{name: "200 whose headers spend the budget", report: Report{StatusCode: 200, Headers: spent}, next: "b", order: []string{"a", "b", "c"}, counted: true},
		{name: "200 spent under round_robin rotates the next", strat: RoundRobin, report: Report{StatusCode: 200, Headers: spent}, next: "b", order: []string{"a", "c", "b"}, counted: true},
		{name: "200 on a credential dead meanwhile", a: []func(*Entry){deadAgo(time.Minute)}, report: Report{StatusCode: 200}, next: "b", order: []string{"a", "b", "c"}, counted: true},
		{name: "200 for a model it is benched for", a: []func(*Entry){benchedFor("m1")}, report: Report{StatusCode: 200, Model: "m1"}, next: "b", order: []string{"a", "b", "c"}, counted: true},
		{name: "200 for another model than it is benched for", a: []func(*Entry){benchedFor("m1")}, report: Report{StatusCode: 200, Model: "m2"}, order: []string{"a", "b", "c"}},
		{name: "429 marks and hands out the next", report: Report{StatusCode: 429}, next: "b", order: []string{"a", "b", "c"}, counted: true},
		{name: "429 under round_robin rotates the next", strat: RoundRobin, report: Report{StatusCode: 429}, next: "b", order: []string{"a", "c", "b"}, counted: true},
		{name: "429 on a dead credential marks nothing new, still a next", a: []func(*Entry){deadAgo(time.Minute)}, report: Report{StatusCode: 429}, next: "b", order: []string{"a", "b", "c"}, counted: true},
		{name: "500 that matches no credential still gets a next", report: Report{CredentialID: "zz", StatusCode: 500}, next: "a", order: []string{"a", "b", "c"}, counted: true},
		// The gateway selects its retry itself: a next here would count twice.
		{name: "429 with no_next marks and picks none", report: Report{StatusCode: 429, NoNext: true}, order: []string{"a", "b", "c"}},
		{name: "429 with no_next under round_robin does not rotate", strat: RoundRobin, report: Report{StatusCode: 429, NoNext: true}, order: []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := map[string][]Entry{prov: {ent("a", 0, tc.a...), ent("b", 1), ent("c", 2)}}
			p, _ := newTest(t, Config{DefaultStrategy: tc.strat}, disk)
			roundTrip(p, snapshotOf(disk))
			require.False(t, pending(p))
			if tc.report.CredentialID == "" {
				tc.report.CredentialID = "a"
			}
			before := map[string]int{}
			for _, id := range []string{"a", "b", "c"} {
				before[id] = entryOf(t, p, prov, id).RequestCount
			}
			res, err := p.Report(prov, tc.report)
			require.NoError(t, err)
			if tc.next == "" {
				assert.Nil(t, res.Next)
			} else if assert.NotNil(t, res.Next) {
				assert.Equal(t, tc.next, res.Next.ID)
			}
			var order []string
			for _, e := range p.pools[prov].byPrio {
				order = append(order, e.ID)
				want := before[e.ID]
				if tc.counted && e.ID == tc.next {
					want++
				}
				assert.Equal(t, want, e.RequestCount, "request_count of %s", e.ID)
			}
			assert.Equal(t, tc.order, order)
			if tc.next == "" && tc.report.StatusCode < 400 {
				assert.False(t, pending(p), "a success that keeps its credential leaves nothing to write")
			}
		})
	}
}

func benchedFor(model string) func(*Entry) {
	return func(e *Entry) {
		e.ModelCooldowns = map[string]float64{model: epochOf(t0.Add(time.Hour))}
		e.ModelCooldownObservedAt = map[string]float64{model: epochOf(t0)}
	}
}

func TestReportDeadlines(t *testing.T) {
	now := epochOf(t0)
	for _, tc := range []struct {
		name    string
		before  []func(*Entry)
		report  Report
		until   float64 // 0 = DEAD
		resetAt float64 // what last_error_reset_at must hold
	}{
		{"429 default", nil, Report{StatusCode: 429}, now + 3600, 0},
		{"401 default", nil, Report{StatusCode: 401}, now + 300, 0},
		{"503 default", nil, Report{StatusCode: 503}, now + 3600, 0},
		{"reset_at epoch wins, even days away", nil, Report{StatusCode: 429, ResetAt: "1780920000"}, 1780920000, 1780920000},
		{"reset_at ms", nil, Report{StatusCode: 429, ResetAt: "1780320000000"}, 1780320000, 1780320000},
		{"reset_at ISO", nil, Report{StatusCode: 429, ResetAt: "2026-06-01T13:00:00Z"}, now + 3600, 0},
		{"retry_after seconds", nil, Report{StatusCode: 429, RetryAfter: "120"}, now + 120, now + 120},
		{"retry_after date", nil, Report{StatusCode: 429, RetryAfter: "Mon, 01 Jun 2026 12:10:00 GMT"}, now + 600, now + 600},
		{"reset_at beats retry_after", nil, Report{StatusCode: 429, ResetAt: "1780316000", RetryAfter: "5"}, 1780316000, 1780316000},
		{"bad reset_at falls back to retry_after", nil, Report{StatusCode: 429, ResetAt: "soon", RetryAfter: "5"}, now + 5, now + 5},
		{"bad both fall back to message", nil, Report{StatusCode: 429, ResetAt: "x", RetryAfter: "y", Message: "try again in 20s"}, now + 20, now + 20},
		{"bad everything falls back to TTL", nil, Report{StatusCode: 429, ResetAt: "x", Message: "slow down"}, now + 3600, 0},
		{"past reset_at falls back to TTL", nil, Report{StatusCode: 429, ResetAt: "1000000000"}, now + 3600, 0},
		{"message delay", nil, Report{StatusCode: 429, Message: "Please retry after 30 seconds"}, now + 30, now + 30},
		{"re-report never shortens", []func(*Entry){exhaustedAgo(402, 10*time.Minute)}, Report{StatusCode: 429, RetryAfter: "10"}, now + 3000, now + 3000},
		{"re-report may lengthen", []func(*Entry){exhaustedAgo(401, time.Minute)}, Report{StatusCode: 429}, now + 3600, 0},
		{"ended cooldown starts over", []func(*Entry){exhaustedAgo(429, 2*time.Hour)}, Report{StatusCode: 429, RetryAfter: "10"}, now + 10, now + 10},
		{"dead stays dead on a soft error", []func(*Entry){deadAgo(time.Hour)}, Report{StatusCode: 429}, 0, 0},
		{"exhausted turns dead", []func(*Entry){exhaustedAgo(429, time.Minute)}, Report{StatusCode: 401, Reason: "invalid_token"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, tc.before...), ent("b", 1), ent("c", 2)}})
			tc.report.CredentialID = "a"
			res, err := p.Report(prov, tc.report)
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			e := entryOf(t, p, prov, "a")
			if tc.until == 0 {
				assert.Equal(t, StatusDead, res.Marked.Status)
				assert.Equal(t, StatusDead, e.LastStatus)
				return
			}
			assert.Equal(t, StatusExhausted, res.Marked.Status)
			assert.InDelta(t, tc.until, res.Marked.Until, 1e-3)
			assert.InDelta(t, tc.until, p.pools[prov].until(&e.StatusFields), 1e-3, "the file's fields give the same deadline")
			assert.InDelta(t, tc.resetAt, e.LastErrorResetAt, 1e-3)
		})
	}
}

func TestReportDeadUnchangedQueuesNothing(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, deadAgo(time.Hour)), ent("b", 1)}})
	before := entryOf(t, p, prov, "a").StatusFields
	res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
	require.NoError(t, err)
	assert.Equal(t, Marked{ID: "a", Status: StatusDead}, *res.Marked)
	assert.Empty(t, res.Changes)
	assert.Equal(t, before, entryOf(t, p, prov, "a").StatusFields)
	assert.False(t, urgent(p), "nothing to write")
}

func TestReportErrorsAndNoNext(t *testing.T) {
	p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0)}})
	_, err := p.Report("nope", Report{CredentialID: "a", StatusCode: 429})
	assert.ErrorIs(t, err, ErrUnknownPool)
	res, err := p.Report(prov, Report{CredentialID: "a", StatusCode: 429})
	require.NoError(t, err)
	assert.Nil(t, res.Next, "the only entry is cooling")
}

// TestReportTextsAreBounded: reason, message and failure reason are kept
// alike, each cut to maxMessageRunes characters.
func TestReportTextsAreBounded(t *testing.T) {
	long := strings.Repeat("é", 5000)
	for _, tc := range []struct {
		name string
		set  func(*Report)
		got  func(EntryView) string
	}{
		{"reason", func(r *Report) { r.Reason = long }, func(v EntryView) string { return v.LastErrorReason }},
		{"message", func(r *Report) { r.Message = long }, func(v EntryView) string { return v.LastErrorMessage }},
		{"failure reason", func(r *Report) { r.FailureReason = long }, func(v EntryView) string { return v.FailureReason }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0), ent("b", 1)}})
			r := Report{CredentialID: "a", StatusCode: 500}
			tc.set(&r)
			_, err := p.Report(prov, r)
			require.NoError(t, err)
			assert.Equal(t, maxMessageRunes, len([]rune(tc.got(viewOf(t, p, prov, "a")))))
		})
	}
}

func TestReportRedactsQuotedTokens(t *testing.T) {
	const tok = "sk-or-v1-quoted-secret-token-7777"
	const hint = "sk-other-key-the-agent-used-8888"
	tests := []struct {
		name, reason, message, failure string
	}{
		{"message quotes the entry's token", "invalid_api_key", "Incorrect API key provided: " + tok + ". Check it.", ""},
		{"reason quotes the hint", "bad key " + hint, "nope", ""},
		{"both, twice", tok, tok + " and " + tok + " and " + hint, ""},
		{"failure reason quotes both", "x", "y", "billing for " + tok + " (" + hint + ")"},
		{"failure reason is the token", "x", "y", tok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1780000000, 0)}
			p := New(Config{Now: clk.Now})
			p.Load(Snapshot{Pools: map[string][]Entry{"openrouter": {
				{ID: "aaaaaa", Source: "manual", AccessToken: tok},
				{ID: "bbbbbb", Source: "manual", AccessToken: "sk-or-v1-second-key-0000"},
			}}})
			res, err := p.Report("openrouter", Report{CredentialID: "aaaaaa", APIKeyHint: hint, StatusCode: 401,
				Reason: tc.reason, Message: tc.message, FailureReason: tc.failure})
			require.NoError(t, err)
			require.NotNil(t, res.Marked)
			v, err := p.View("openrouter")
			require.NoError(t, err)
			got := v.Entries[0].LastErrorReason + " " + v.Entries[0].LastErrorMessage + " " + v.Entries[0].FailureReason
			for _, c := range res.Changes {
				got += " " + c.Reason
			}
			disk := roundTrip(p, Snapshot{Pools: map[string][]Entry{"openrouter": {
				{ID: "aaaaaa", Source: "manual", AccessToken: tok},
				{ID: "bbbbbb", Source: "manual", AccessToken: "sk-or-v1-second-key-0000"},
			}}})
			d := disk.Pools["openrouter"][0]
			got += " " + d.LastErrorReason + " " + d.LastErrorMessage + " " + d.FailureReason
			for _, secret := range []string{tok, hint} {
				assert.NotContains(t, strings.ToLower(got), strings.ToLower(secret))
			}
			assert.True(t, strings.Contains(got, "…") || strings.Contains(got, redact.Redacted), got)
		})
	}
}
