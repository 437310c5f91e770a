package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/credpool/credpool/internal/loopback"
)

// Sentinels for errors.Is.
var (
	// ErrUnsupported: Refresh does not know the provider.
	ErrUnsupported = errors.New("provider not supported")
	// ErrNoRefreshToken: the request carries no refresh token.
	ErrNoRefreshToken = errors.New("no refresh token")
	// ErrEndpoint: a token endpoint (an override or a discovered one) was
	// refused by the transport rules.
	ErrEndpoint = errors.New("token endpoint refused")
	// ErrRedirect: the endpoint redirected to another host, or to a URL the
	// transport rules refuse, and the redirect was not followed.
	ErrRedirect = errors.New("redirect not followed")
)

// ParseOverrides parses the PROVIDER=URL,PROVIDER=URL form of
// CREDPOOL_TOKEN_URL and of --token-url (join repeated flags with ","). An
// unknown provider, a repeated one or a URL the transport rules refuse is an
// error naming the provider and the item's position; the URL itself is never
// quoted, since one could carry user info.
func ParseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue // a trailing or doubled comma
		}
		name, raw, ok := strings.Cut(item, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("oauth: token url item %d: want PROVIDER=URL", i+1)
		}
		if !Supported(name) {
			return nil, fmt.Errorf("oauth: token url item %d: %w: %q (known: %s)", i+1, ErrUnsupported, name, strings.Join(names(), ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("oauth: token url item %d: provider %q given twice", i+1, name)
		}
		if _, err := checkEndpoint(raw, nil); err != nil {
			return nil, fmt.Errorf("oauth: token url for %q: %w", name, err)
		}
		out[name] = raw
	}
	return out, nil
}

func names() []string {
	n := make([]string, 0, len(providers))
	for name := range providers {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}

// checkEndpoint is the one transport rule for every URL a refresh token may
// be sent to: an absolute URL without user info, https, or plain http only to
// a loopback host (a local fake or proxy). hostOK, when set, must also accept
// the host. The error gives the reason, never the URL.
func checkEndpoint(raw string, hostOK func(host string) bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrEndpoint)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: URL carries user info", ErrEndpoint)
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback.Is(host) {
			return nil, fmt.Errorf("%w: plain http is only allowed to a loopback host", ErrEndpoint)
		}
	default:
		return nil, fmt.Errorf("%w: scheme must be https", ErrEndpoint)
	}
	if hostOK != nil && !hostOK(host) {
		return nil, fmt.Errorf("%w: host is not the provider's", ErrEndpoint)
	}
	return u, nil
}

// maxRedirects bounds same-host redirects.
const maxRedirects = 5

// checkRedirect follows a redirect only to the same host and port, and only
// to a URL the transport rules accept: a token endpoint that bounces the
// refresh token elsewhere is refusing service, not moving.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: too many redirects", ErrRedirect)
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return fmt.Errorf("%w: to another host", ErrRedirect)
	}
	if _, err := checkEndpoint(req.URL.String(), nil); err != nil {
		return fmt.Errorf("%w: %w", ErrRedirect, err)
	}
	return nil
}

// userAgent names credpool to the token endpoints. (Anthropic rate-limits
// token requests whose agent looks like a browser or like claude-code/.)
const userAgent = "credpool-oauth/1"

// headerTransport sets the headers every token request carries.
type headerTransport struct{ base http.RoundTripper }

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// client is the caller's client (or a default one) with credpool's redirect
// policy and headers; the caller's client is not changed.
func (r *Refresher) client() *http.Client {
	c := &http.Client{}
	if r.HTTPClient != nil {
		*c = *r.HTTPClient
	}
	c.Transport = headerTransport{base: c.Transport}
	c.CheckRedirect = checkRedirect
	return c
}

// endpoints lists the token URLs to try for req, in order.
func (r *Refresher) endpoints(ctx context.Context, c *http.Client, p *provider, req Request) ([]string, error) {
	if raw, ok := r.Overrides[req.Provider]; ok {
		if _, err := checkEndpoint(raw, nil); err != nil {
			return nil, fmt.Errorf("oauth: %s: token url override: %w", req.Provider, err)
		}
		return []string{raw}, nil
	}
	switch {
	case p.discoveryURL != "":
		u, err := r.discover(ctx, c, req.Provider, p)
		if err != nil {
			return nil, err
		}
		return []string{u}, nil
	case p.portal != "":
		return []string{portalBase(p, req.PortalBaseURL) + p.tokenPath}, nil
	}
	return p.tokenURLs, nil
}

// portalBase is the login's portal when the allow-list accepts it, else the
// provider's default portal.
func portalBase(p *provider, given string) string {
	given = strings.TrimRight(strings.TrimSpace(given), "/")
	if given == "" {
		return p.portal
	}
	ok := func(h string) bool { return loopback.Is(h) || p.portalHost(strings.ToLower(h)) }
	if u, err := checkEndpoint(given, ok); err != nil || (u.RawQuery != "" || u.Fragment != "") {
		return p.portal
	}
	return given
}

// maxBody bounds what is read of any answer (x/oauth2 reads the same).
const maxBody = 1 << 20

// discover fetches the provider's OpenID configuration and returns its
// token_endpoint, which must pass the transport rules and the provider's host
// rule. Every failure is a Transient *Error: the credential is not at fault.
func (r *Refresher) discover(ctx context.Context, c *http.Client, name string, p *provider) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, p.discoveryURL, nil)
	if err != nil {
		return "", transient(name, "discovery: bad request", nil)
	}
	resp, err := c.Do(hreq)
	if err != nil {
		return "", withReasonPrefix(transportError(ctx, name, err), "discovery: ")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", withReasonPrefix(transportError(ctx, name, err), "discovery: ")
	}
	if resp.StatusCode != http.StatusOK {
		e := transient(name, "discovery failed", nil)
		e.Status = resp.StatusCode
		return "", e
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || strings.TrimSpace(doc.TokenEndpoint) == "" {
		return "", transient(name, "discovery: no token_endpoint in the document", nil)
	}
	te := strings.TrimSpace(doc.TokenEndpoint)
	if _, err := checkEndpoint(te, p.discoveredHost); err != nil {
		return "", transient(name, "discovery: "+err.Error(), ErrEndpoint)
	}
	return te, nil
}
