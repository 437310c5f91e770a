package socketapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/quota"
)

// DefaultDialRetry is how long a client keeps dialling a socket that does not
// exist yet or refuses connections, so that an agent started together with
// the daemon does not fail.
const DefaultDialRetry = 3 * time.Second

// Client talks to a daemon over its Unix socket. It is safe for concurrent
// use and keeps connections alive between calls; Close releases them.
type Client struct {
	// DialRetry is how long to keep dialling while the socket is missing or
	// refuses connections (default DefaultDialRetry; negative: no retry).
	// Set it before the first call.
	DialRetry time.Duration

	path string
	hc   *http.Client
	tr   *http.Transport
}

// NewClient returns a client for the daemon at socketPath (when empty,
// $CREDPOOL_SOCKET or the default socket, paths.SocketFor).
func NewClient(socketPath string) *Client {
	if socketPath == "" {
		socketPath = paths.SocketFor(os.Getenv)
	}
	c := &Client{path: socketPath, DialRetry: DefaultDialRetry}
	c.tr = &http.Transport{
		DialContext:         c.dial,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	// The daemon never redirects: an answer that does is not to be
	// followed somewhere else.
	c.hc = &http.Client{Transport: c.tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c
}

// SocketPath is the socket the client dials.
func (c *Client) SocketPath() string { return c.path }

// Close closes idle connections. The client stays usable.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	deadline := time.Now().Add(c.DialRetry)
	wait := 10 * time.Millisecond
	for {
		conn, err := d.DialContext(ctx, "unix", c.path)
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		if !time.Now().Add(wait).Before(deadline) {
			return nil, fmt.Errorf("%w (nothing listens on %s; start it with `credpool daemon` or `credpool service start`): %w",
				ErrDaemonNotRunning, c.path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// Health returns the daemon's health.
func (c *Client) Health(ctx context.Context) (apitype.Health, error) {
	var h apitype.Health
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, http.StatusOK, &h)
	return h, err
}

// Pools returns every pool.
func (c *Client) Pools(ctx context.Context) ([]apitype.Pool, error) {
	var out apitype.Pools
	err := c.do(ctx, http.MethodGet, "/v1/pools", nil, http.StatusOK, &out)
	return out.Pools, err
}

// Pool returns one provider's pool.
func (c *Client) Pool(ctx context.Context, provider string) (apitype.Pool, error) {
	var v apitype.Pool
	err := c.do(ctx, http.MethodGet, poolPath(provider, ""), nil, http.StatusOK, &v)
	return v, err
}

func poolPath(provider, rest string) string { return "/v1/pools/" + pathValue(provider) + rest }

// pathValue escapes a value for one path segment. PathEscape leaves "."
// and ".." as they are, and a path holding them is cleaned (and
// redirected) before any handler sees it; escaped, they reach the handler
// as values and get its clear error.
func pathValue(s string) string {
	if s == "." || s == ".." {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return url.PathEscape(s)
}

// Select asks for a credential. When none is available the error is an
// *apitype.APIError that matches pool.ErrNoneAvailable and tells when to
// retry.
func (c *Client) Select(ctx context.Context, provider string, req apitype.SelectRequest) (apitype.SelectResponse, error) {
	var resp apitype.SelectResponse
	err := c.do(ctx, http.MethodPost, poolPath(provider, "/select"), req, http.StatusOK, &resp)
	return resp, err
}

// Report tells the daemon how the provider answered a call.
func (c *Client) Report(ctx context.Context, provider string, req apitype.ReportRequest) (apitype.ReportResponse, error) {
	var resp apitype.ReportResponse
	err := c.do(ctx, http.MethodPost, poolPath(provider, "/report"), req, http.StatusOK, &resp)
	return resp, err
}

// Observe reports a provider's answer, success included, with its response
// headers: the daemon records the quota they announce and rotates before
// the wall.
func (c *Client) Observe(ctx context.Context, provider, credentialID string, status int, h http.Header) (apitype.ReportResponse, error) {
	return c.Report(ctx, provider, apitype.ReportRequest{CredentialID: credentialID, StatusCode: status, Headers: HeadersOf(h)})
}

// HeadersOf keeps the rate-limit headers of a provider's answer, in the
// form a report carries (the daemon ignores every other one anyway; the
// client does not send them).
func HeadersOf(h http.Header) map[string]string {
	return quota.Headers(h)
}

// Release gives a lease back.
func (c *Client) Release(ctx context.Context, leaseID string) error {
	return c.do(ctx, http.MethodPost, "/v1/leases/"+pathValue(leaseID)+"/release", nil, http.StatusNoContent, nil)
}

// AddEntry adds a credential to a provider's pool.
func (c *Client) AddEntry(ctx context.Context, provider string, req apitype.AddRequest) (apitype.AddResponse, error) {
	var out apitype.AddResponse
	err := c.do(ctx, http.MethodPost, poolPath(provider, "/entries"), req, http.StatusCreated, &out)
	return out, err
}

// RemoveEntry removes the entry that target names (id, exact label or
// 1-based index).
func (c *Client) RemoveEntry(ctx context.Context, provider, target string) (apitype.RemoveResponse, error) {
	var out apitype.RemoveResponse
	err := c.do(ctx, http.MethodDelete, poolPath(provider, "/entries/"+pathValue(target)), nil, http.StatusOK, &out)
	return out, err
}

// Reset ends the verdicts of target, or of every entry when target is "".
func (c *Client) Reset(ctx context.Context, provider, target string) (apitype.ResetResponse, error) {
	var out apitype.ResetResponse
	err := c.do(ctx, http.MethodPost, poolPath(provider, "/reset"), apitype.ResetRequest{Target: target}, http.StatusOK, &out)
	return out, err
}

// Repair gives every row of provider with a duplicated id an id of its own.
func (c *Client) Repair(ctx context.Context, provider string) (apitype.RepairResponse, error) {
	var out apitype.RepairResponse
	err := c.do(ctx, http.MethodPost, poolPath(provider, "/repair"), nil, http.StatusOK, &out)
	return out, err
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", readAPIError(resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("socketapi: metrics: %w", err)
	}
	return string(b), nil
}

// Events follows the event stream until ctx ends or the daemon goes. Events
// arrive on the first channel, which closes when the stream ends; then the
// second channel yields nil (ctx ended) or why the stream ended, and closes.
func (c *Client) Events(ctx context.Context) (<-chan apitype.Event, <-chan error) {
	events := make(chan apitype.Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(events)
		errc <- c.follow(ctx, events)
	}()
	return events, errc
}

func (c *Client) follow(ctx context.Context, events chan<- apitype.Event) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var ev apitype.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("socketapi: events: malformed event: %w", err)
		}
		select {
		case events <- ev:
		case <-ctx.Done():
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("socketapi: events: %w", err)
	}
	return fmt.Errorf("socketapi: events: %w", io.ErrUnexpectedEOF)
}

// do sends body as JSON (none when nil), expects want and decodes the answer
// into out (skipped when nil).
func (c *Client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return readAPIError(resp)
	}
	// Read the whole answer, trailing newline included: a body not read to
	// EOF makes the transport drop the connection instead of reusing it.
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("socketapi: %s %s: reading the answer: %w", method, path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("socketapi: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("socketapi: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://credpool"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("socketapi: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrDaemonNotRunning) {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // "Post "http://credpool/...": " says nothing useful
			}
			return nil, fmt.Errorf("socketapi: %w", err)
		}
		return nil, fmt.Errorf("socketapi: %s %s: %w", method, path, err)
	}
	return resp, nil
}

// readAPIError turns an error answer into an *apitype.APIError; an answer
// that is not the API's JSON (a proxy, a different program on the socket)
// keeps its status and a short excerpt.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body apitype.NoneAvailableBody
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Code == "" {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return &apitype.APIError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: msg}
	}
	return &apitype.APIError{
		Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message,
		NextAvailableAt: body.NextAvailableAt, RetryAfterS: body.RetryAfterS,
	}
}
