package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/tokeninfo"
	"golang.org/x/oauth2"
)

// DefaultTimeout bounds every HTTP request of a refresh.
const DefaultTimeout = 15 * time.Second

// Request is one refresh to make.
type Request struct {
	Provider     string
	RefreshToken string
	// PortalBaseURL is the nous login's portal_base_url ("" for the default
	// portal).
	PortalBaseURL string
	// Source is the entry's source; for anthropic, "hermes_pkce" logins
	// refresh with a JSON body and all others with a form.
	Source string
}

// Result is what a successful refresh returned.
type Result struct {
	AccessToken string
	// RefreshToken is the rotated refresh token, or the one sent when the
	// provider did not rotate it.
	RefreshToken string
	// IDToken is the OpenID id_token when the provider sent one (xAI and
	// Codex do); "" otherwise.
	IDToken string
	// ExpiresAt is the access token's expiry, epoch seconds: from expires_in
	// (by the Refresher's clock), else the new token's JWT exp, else the
	// provider's usual lifetime; 0 when unknown.
	ExpiresAt float64
}

// Refresher refreshes tokens. The zero value is ready: default endpoints, a
// default client, DefaultTimeout and the wall clock.
type Refresher struct {
	// Overrides maps a provider to a token URL used instead of its own
	// (and, for xAI, instead of discovery). See ParseOverrides.
	Overrides map[string]string
	// HTTPClient is the client to send with; its CheckRedirect is replaced
	// by credpool's (same host only), the client itself is left unchanged.
	HTTPClient *http.Client
	// Timeout bounds each HTTP request (DefaultTimeout when 0).
	Timeout time.Duration
	Now     func() time.Time
}

func (r *Refresher) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Refresh exchanges req's refresh token for new tokens. A failed exchange is
// an *Error (errors.As) saying whether the credential is dead, rate limited
// or just unlucky; a request that cannot be made at all (ErrUnsupported,
// ErrNoRefreshToken, a refused override: ErrEndpoint) is a plain error.
// Neither ever carries a token.
func (r *Refresher) Refresh(ctx context.Context, req Request) (Result, error) {
	p, ok := providers[req.Provider]
	if !ok {
		return Result{}, fmt.Errorf("oauth: %w: %q", ErrUnsupported, req.Provider)
	}
	refreshToken := strings.TrimSpace(req.RefreshToken)
	if refreshToken == "" {
		return Result{}, fmt.Errorf("oauth: %s: %w", req.Provider, ErrNoRefreshToken)
	}
	c := r.client()
	urls, err := r.endpoints(ctx, c, p, req)
	if err != nil {
		return Result{}, err
	}
	var last *Error
	for _, u := range urls {
		g, err := r.exchange(ctx, c, p, req, u, refreshToken)
		if err == nil {
			return r.result(req.Provider, p, g, refreshToken)
		}
		last = err
		if !tryNext(err) || ctx.Err() != nil {
			break
		}
	}
	if last == nil { // no URL at all: a table error, never a nil *Error as an error
		return Result{}, fmt.Errorf("oauth: %s: %w: no token url", req.Provider, ErrEndpoint)
	}
	return Result{}, last
}

// tryNext: the next token URL is tried only when this one is not there (a
// 404, or a request that never reached it); any other answer stands, a
// malformed one included, and so does a timeout: either may have spent the
// token, and sending it again elsewhere is the replay that revokes it.
func tryNext(e *Error) bool {
	return e.Status == http.StatusNotFound || e.notSent
}

// grant is a token answer, whichever way it was read.
type grant struct {
	access, refresh, id string
	expiresIn           float64 // seconds; 0 when absent
}

func (r *Refresher) exchange(ctx context.Context, c *http.Client, p *provider, req Request, endpoint, refreshToken string) (grant, *Error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	switch {
	case p.style == styleNous:
		// x/oauth2 always puts the refresh token in the body; nous wants it
		// in a header and not in the body, so this request is ours.
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {p.clientID}}
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, http.CanonicalHeaderKey(nousRefreshHeader): {refreshToken}}
		return r.post(ctx, c, p, req.Provider, endpoint, h, []byte(form.Encode()))
	case p.style == styleAnthropic && strings.HasSuffix(req.Source, hermesPKCESource):
		// x/oauth2 only sends forms; Hermes' own Anthropic logins refresh
		// with the same three fields as JSON, so this request is ours.
		body, _ := json.Marshal(map[string]string{
			"grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": p.clientID,
		})
		return r.post(ctx, c, p, req.Provider, endpoint, http.Header{"Content-Type": {"application/json"}}, body)
	}
	return r.rfcRefresh(ctx, c, p, req.Provider, endpoint, refreshToken)
}

// rfcRefresh is a plain RFC 6749 refresh through x/oauth2.
func (r *Refresher) rfcRefresh(ctx context.Context, c *http.Client, p *provider, name, endpoint, refreshToken string) (grant, *Error) {
	cfg := oauth2.Config{
		ClientID: p.clientID,
		// InParams: no client secret, client_id in the form. Left unknown,
		// x/oauth2 would probe the header style first and, on a failure,
		// send the same refresh token a second time.
		Endpoint: oauth2.Endpoint{TokenURL: endpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, c), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		var ue *url.Error
		switch {
		case errors.As(err, &re):
			code, desc := re.ErrorCode, re.ErrorDescription
			if code == "" {
				code, desc = errorFields(re.Body)
			}
			return grant{}, httpError(name, p, re.Response.StatusCode, re.Response.Header, code, desc, r.now())
		case errors.As(err, &ue), ctx.Err() != nil:
			return grant{}, transportError(ctx, name, err)
		}
		// x/oauth2's own texts (unparsable answer, no access_token) may
		// quote the body: keep none of it.
		return grant{}, transient(name, "malformed answer", nil)
	}
	g := grant{access: tok.AccessToken, refresh: tok.RefreshToken}
	g.id, _ = tok.Extra("id_token").(string)
	g.expiresIn = seconds(tok.Extra("expires_in"))
	return g, nil
}

// post sends a token request written by hand and reads the answer the way
// x/oauth2 would.
func (r *Refresher) post(ctx context.Context, c *http.Client, p *provider, name, endpoint string, h http.Header, body []byte) (grant, *Error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return grant{}, transient(name, "bad request", nil)
	}
	hreq.Header = h
	resp, err := c.Do(hreq)
	if err != nil {
		return grant{}, transportError(ctx, name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return grant{}, transportError(ctx, name, err)
	}
	code, desc := errorFields(data)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || code != "" {
		return grant{}, httpError(name, p, resp.StatusCode, resp.Header, code, desc, r.now())
	}
	var doc struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
		ExpiresIn    any    `json:"expires_in"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return grant{}, transient(name, "malformed answer", nil)
	}
	return grant{access: doc.AccessToken, refresh: doc.RefreshToken, id: doc.IDToken, expiresIn: seconds(doc.ExpiresIn)}, nil
}

// seconds reads an expires_in value: a JSON number, a numeric string, or
// x/oauth2's int64 from a form answer; 0 for anything else.
func seconds(v any) float64 {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case string:
		f, _ = strconv.ParseFloat(strings.TrimSpace(x), 64)
	}
	if !tokeninfo.Sane(f) {
		return 0
	}
	return f
}

// result turns a grant into a Result; an answer without an access token is
// a Transient error (the refresh token may well be spent by now: the caller
// decides what to do about that).
func (r *Refresher) result(name string, p *provider, g grant, sent string) (Result, error) {
	res := Result{
		AccessToken:  strings.TrimSpace(g.access),
		RefreshToken: strings.TrimSpace(g.refresh),
		IDToken:      strings.TrimSpace(g.id),
	}
	if res.AccessToken == "" {
		return Result{}, transient(name, "answer has no access_token", nil)
	}
	if res.RefreshToken == "" {
		res.RefreshToken = sent
	}
	now := epoch.Seconds(r.now())
	switch exp, ok := tokeninfo.JWTExp(res.AccessToken); {
	case g.expiresIn > 0:
		res.ExpiresAt = now + g.expiresIn
	case ok:
		res.ExpiresAt = exp
	case p.defaultLifetime > 0:
		res.ExpiresAt = now + p.defaultLifetime.Seconds()
	}
	return res, nil
}
