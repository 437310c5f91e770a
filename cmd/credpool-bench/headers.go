package main

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/credpool/credpool/apitype"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// headerReportsResult compares a 200 report that carries a provider's
// rate-limit headers with one that carries none, both over the socket from
// one client, interleaved so that both see the same machine.
type headerReportsResult struct {
	Rounds  int     `json:"rounds"`
	Headers int     `json:"headers"` // in each report of With
	None    opStats `json:"none"`
	With    opStats `json:"with_headers"`
	P50X    float64 `json:"p50_ratio"` // With/None
	P99X    float64 `json:"p99_ratio"`
}

// reportHeaders are 20 rate-limit headers that the daemon reads every one
// of, the most work a report of 20 headers can make: OpenAI's six,
// Anthropic's twelve for API keys and two of a subscription's. (No single
// provider sends all three families; the cost is per header read.) The
// budgets keep the credential available, so every round hands it out
// again.
func reportHeaders(now time.Time) map[string]string {
	h := map[string]string{
		"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms",
		"x-ratelimit-limit-tokens": "2000000", "x-ratelimit-remaining-tokens": "1999000", "x-ratelimit-reset-tokens": "30ms",
		"anthropic-ratelimit-unified-status": "allowed",
		"anthropic-ratelimit-unified-reset":  strconv.FormatInt(now.Add(5*time.Hour).Unix(), 10),
	}
	reset := now.Add(time.Minute).UTC().Format(time.RFC3339)
	for _, w := range []string{"requests", "tokens", "input-tokens", "output-tokens"} {
		h["anthropic-ratelimit-"+w+"-limit"] = "400000"
		h["anthropic-ratelimit-"+w+"-remaining"] = "399000"
		h["anthropic-ratelimit-"+w+"-reset"] = reset
	}
	return h
}

// measureHeaderReports sends rounds pairs of 200 reports on the first
// credential of provider: one with reportHeaders, one with none, in turn.
func measureHeaderReports(ctx context.Context, socket, provider string, rounds int, warmup time.Duration) (*headerReportsResult, error) {
	c := socketapi.NewClient(socket)
	defer c.Close()
	sel, err := c.Select(ctx, provider, apitype.SelectRequest{})
	if err != nil {
		return nil, err
	}
	id := sel.Credential.ID
	send := func(h map[string]string) (time.Duration, error) {
		start := time.Now()
		_, err := c.Report(ctx, provider, apitype.ReportRequest{CredentialID: id, StatusCode: 200, Headers: h})
		return time.Since(start), err
	}
	for end := time.Now().Add(warmup); time.Now().Before(end); {
		if _, err := send(reportHeaders(time.Now())); err != nil {
			return nil, err
		}
	}
	var none, with samples
	for i := range rounds {
		h := reportHeaders(time.Now()) // built outside the timed call
		first, second := h, map[string]string(nil)
		if i%2 == 1 { // alternate which goes first
			first, second = second, first
		}
		for _, hh := range []map[string]string{first, second} {
			d, err := send(hh)
			if err != nil {
				return nil, err
			}
			if hh == nil {
				none = append(none, int64(d))
			} else {
				with = append(with, int64(d))
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if len(with) == 0 {
		return nil, errors.New("header reports: no rounds")
	}
	// The headers were read, not just carried: the entry shows their windows.
	v, err := c.Pool(ctx, provider)
	if err != nil {
		return nil, err
	}
	for _, e := range v.Entries {
		if e.ID == id && len(e.Quota) == 0 {
			return nil, errors.New("header reports: the daemon kept no quota window from the headers")
		}
	}
	res := &headerReportsResult{Rounds: rounds, Headers: len(reportHeaders(time.Now())),
		None: summarize(none, 0), With: summarize(with, 0)}
	res.P50X, res.P99X = ratio(res.With.P50, res.None.P50), ratio(res.With.P99, res.None.P99)
	return res, nil
}
