package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/credpool/credpool/epoch"
)

// rotator is the proxy's Transport: per attempt it selects a credential,
// sets it, sends, reports the answer, and on 401, 402 or 429 goes again
// with the next credential. No byte has gone to the client before it
// returns, so a retry is invisible to it.
type rotator struct{ s *Server }

// retryable are the answers that say "this credential, not this request":
// another credential may well succeed.
func retryable(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusPaymentRequired ||
		status == http.StatusTooManyRequests
}

func (t *rotator) RoundTrip(out *http.Request) (*http.Response, error) {
	s := t.s
	if out.Body != nil {
		_ = out.Body.Close() // the rotator sends c.body, once per attempt
	}
	ctx := out.Context()
	c := callFrom(ctx)
	if c == nil {
		return nil, errors.New("gateway: request without a route")
	}
	var tried []string
	for {
		cred, err := s.b.Select(ctx, c.pool, c.model, tried)
		if err != nil {
			return nil, s.selectError(ctx, c, err)
		}
		c.label = c.pool
		c.attempts++
		c.credentialID = cred.ID
		base, e := s.upstreamFor(c.pool, cred)
		if e != nil {
			return nil, e
		}
		req := out.Clone(ctx)
		req.URL, req.Host = joinURL(base, c.route), ""
		req.TransferEncoding = nil
		req.Body, req.GetBody, req.ContentLength = nil, nil, int64(len(c.body))
		if c.body != nil {
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body)), nil }
			req.Body, _ = req.GetBody()
		}
		c.dialect.setCredential(req.Header, cred)

		start := s.now()
		resp, err := s.cfg.Transport.RoundTrip(req)
		latency := s.now().Sub(start)
		s.metrics.upstream(c.pool, latency)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err // the client left; nothing to say to anyone
			}
			s.report(ctx, c, cred, Report{StatusCode: http.StatusBadGateway, Reason: ReasonNetwork, Message: err.Error()})
			s.log.Debug("gateway attempt", "pool", c.pool, "credential", cred.ID, "attempt", c.attempts,
				"reason", ReasonNetwork, "latency", latency)
			return nil, newError(errUpstreamUnreachable,
				fmt.Sprintf("credpool gateway: pool %q: the upstream could not be reached: %v", c.pool, err))
		}
		s.log.Debug("gateway attempt", "pool", c.pool, "credential", cred.ID, "attempt", c.attempts,
			"status", resp.StatusCode, "latency", latency)
		if resp.StatusCode < 400 {
			s.watchBody(ctx, c, cred, resp)
			return resp, nil
		}
		reason, msg := peekError(resp)
		s.report(ctx, c, cred, Report{StatusCode: resp.StatusCode, Header: resp.Header.Clone(), Reason: reason, Message: msg})
		if !retryable(resp.StatusCode) || c.attempts >= s.cfg.MaxAttempts {
			return resp, nil
		}
		_ = resp.Body.Close()
		tried = append(tried, cred.ID)
	}
}

// selectError turns a Select failure into the answer the client gets.
func (s *Server) selectError(ctx context.Context, c *call, err error) error {
	var none *NoneAvailableError
	switch {
	case ctx.Err() != nil:
		return err
	case errors.Is(err, ErrUnknownPool):
		return newError(errUnknownPool,
			fmt.Sprintf("credpool gateway: there is no pool %q (pools are the providers of the auth file; see credpool status)", c.pool))
	case errors.As(err, &none):
		c.label = c.pool
		return s.noneAvailable(c, none)
	default:
		s.log.Warn("gateway: select failed", "pool", s.red.String(c.pool), "err", err)
		e := newError(errPoolUnavailable, "credpool gateway: the pool did not answer; try again")
		e.header = http.Header{"Retry-After": {"1"}}
		return e
	}
}

// noneAvailable is the 429 that lets the SDKs' own back-off wait for the
// pool: Retry-After is the pool's next availability, or absent (with
// x-should-retry: false, which the OpenAI and Anthropic SDKs honour) when
// nothing comes back by itself.
func (s *Server) noneAvailable(c *call, none *NoneAvailableError) *apiError {
	what := "no credential of pool %q is available"
	if c.attempts > 0 {
		what = fmt.Sprintf("tried %d credential(s) of pool %%q and no other is available", c.attempts)
	}
	e := newError(errNoCredential, "credpool gateway: "+fmt.Sprintf(what, c.pool))
	e.header = http.Header{}
	if none.RetryAt > 0 {
		secs := strconv.FormatInt(int64(math.Max(1, math.Ceil(epoch.Until(none.RetryAt, s.now())))), 10)
		e.header.Set("Retry-After", secs)
		e.message += "; retry in " + secs + " s"
	} else {
		e.header.Set("X-Should-Retry", "false")
		e.message += ", and none comes back by itself (only dead credentials remain: log in again or credpool reset)"
	}
	return e
}

// upstreamFor is the base URL for a request of pool with credential cred:
// cred.BaseURL, else the configured one, else the default table.
func (s *Server) upstreamFor(pool string, cred Credential) (*url.URL, *apiError) {
	if cred.BaseURL != "" {
		u, err := ParseBase(cred.BaseURL)
		if err != nil {
			return nil, newError(errBadUpstream,
				fmt.Sprintf("credpool gateway: credential %s of pool %q: base_url: %v", cred.ID, pool, err))
		}
		return u, nil
	}
	if u, ok := s.upstreams[pool]; ok {
		return u, nil
	}
	return nil, newError(errNoUpstream,
		fmt.Sprintf("credpool gateway: no upstream is known for pool %q: set [upstreams] %q = \"https://...\" in the config, or a base_url on its credentials", pool, pool))
}

// report hands an answer to the pool; the model and credential come from
// the call.
func (s *Server) report(ctx context.Context, c *call, cred Credential, r Report) {
	r.CredentialID, r.AccessToken, r.Model = cred.ID, cred.AccessToken, c.model
	// A report must reach the pool even when the client has just left.
	s.b.Report(context.WithoutCancel(ctx), c.pool, r)
}
