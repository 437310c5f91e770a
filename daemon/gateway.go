package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/gateway"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/quota"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// GatewayConfig turns on the local provider gateway (package gateway)
// inside the daemon, on the daemon's own pool.
type GatewayConfig struct {
	// Addr is the loopback address to listen on; "" = off. Port 0 picks a
	// free port, which health shows.
	Addr string
	// TokenFile holds the gateway token; it is made (0600) at first start.
	TokenFile string
	// Upstreams are upstream base URLs by pool, over
	// gateway.DefaultUpstreams (which the gateway owns).
	Upstreams map[string]string
}

// gatewayGrace is how long requests under way through the gateway (streams
// included) may run on at a stop: the socket API's grace, so that it and
// the write drain (DefaultStopTimeout) fit inside the 20 s the service
// units give a stop.
const gatewayGrace = socketapi.DefaultShutdownGrace

// gatewayRun is the gateway as the daemon runs it. A nil *gatewayRun is a
// gateway that is off; every method takes that.
type gatewayRun struct {
	srv  *gateway.Server
	addr string
	done chan error
}

// openGateway builds the gateway and binds its address before the daemon
// says it is ready, so that a bad token file or a port in use is a start
// error. Nil when the gateway is off.
func (d *Daemon) openGateway() (*gatewayRun, error) {
	c := d.cfg.Gateway
	if c.Addr == "" {
		return nil, nil
	}
	if c.TokenFile == "" {
		return nil, errors.New("daemon: gateway: no token file (set HOME or XDG_CONFIG_HOME)")
	}
	token, err := gateway.LoadOrCreateToken(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	srv, err := gateway.New(gateway.Config{
		Addr: c.Addr, Token: token, Upstreams: c.Upstreams,
		Logger: d.log, Now: d.cfg.Pool.Now, ShutdownGrace: gatewayGrace,
	}, gatewayBackend{d})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	addr, err := srv.Listen()
	if err != nil {
		return nil, fmt.Errorf("daemon: %w (is another program on that port? choose another with --gateway or gateway in the config)", err)
	}
	return &gatewayRun{srv: srv, addr: addr.String()}, nil
}

// start serves until ctx ends.
func (g *gatewayRun) start(ctx context.Context) {
	if g == nil {
		return
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.srv.Run(ctx) }()
}

// failed delivers what Run returned; it fires early only when the gateway
// stops by itself. Never for a gateway that is off.
func (g *gatewayRun) failed() <-chan error {
	if g == nil {
		return nil
	}
	return g.done
}

// wait waits for Run to return once its context has ended (streams under
// way get gatewayGrace), so that their last reports reach the pool before
// the daemon's final write.
func (g *gatewayRun) wait() error {
	if g == nil || g.done == nil {
		return nil
	}
	err := <-g.done
	g.done <- nil // a second wait returns at once
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// collectors are the gateway's metrics, for the socket API's /metrics.
func (g *gatewayRun) collectors() []prometheus.Collector {
	if g == nil {
		return nil
	}
	return g.srv.Collectors()
}

// address is the address served, for health; nil when off.
func (g *gatewayRun) address() *string {
	if g == nil {
		return nil
	}
	a := g.addr
	return &a
}

// gatewayBackend is the pool as the gateway needs it, on the daemon's own
// select and report paths (the ones the socket API serves).
type gatewayBackend struct{ d *Daemon }

var _ gateway.Backend = gatewayBackend{}

// Select asks with no wait_ms (it waits only, a few seconds at most, for a
// refresh in flight when nothing else is available): the gateway answers
// "none available" with the pool's Retry-After and lets the client's own
// back-off wait.
func (b gatewayBackend) Select(ctx context.Context, provider, model string, exclude []string) (gateway.Credential, error) {
	sel, err := b.d.Select(ctx, provider, apitype.SelectRequest{Model: model, Exclude: exclude})
	var none *pool.NoneAvailableError
	switch {
	case errors.As(err, &none):
		return gateway.Credential{}, &gateway.NoneAvailableError{Pool: provider, RetryAt: b.retryAt(provider, none, exclude)}
	case errors.Is(err, pool.ErrUnknownPool):
		return gateway.Credential{}, gateway.ErrUnknownPool
	case err != nil:
		return gateway.Credential{}, err
	}
	c := sel.Credential
	return gateway.Credential{ID: c.ID, Provider: c.Provider, AccessToken: c.AccessToken,
		AuthType: c.AuthType, BaseURL: c.BaseURL}, nil
}

// retryAt is when the pool can serve again. The pool's answer leaves out
// the credentials the request excluded, but those come back too: the one
// that just answered 429 is back when its cooldown ends, and a client told
// "nothing comes back by itself" would give up for good.
func (b gatewayBackend) retryAt(provider string, none *pool.NoneAvailableError, exclude []string) float64 {
	at := none.NextAvailableAt
	if len(exclude) == 0 {
		return at
	}
	if v, err := b.d.Pool(provider); err == nil && v.NextAvailableAt > 0 && (at == 0 || v.NextAvailableAt < at) {
		at = v.NextAvailableAt
	}
	return at
}

// Report applies the upstream's answer to the pool at once, on the
// request's own goroutine and under the pool's lock, before the gateway
// sends the next attempt or answers the client: every later select (this
// request's retry, any other request) already skips a credential it marked,
// and reports are applied in the order the answers came. It does not wait
// for the mark to reach the disk, which would add a write and an fsync to
// the client's wait: the io loop writes it at once (the same group commit
// that serves the socket API's answers), and a stop drains it.
func (b gatewayBackend) Report(_ context.Context, provider string, r gateway.Report) {
	_, seq, err := b.d.report(provider, apitype.ReportRequest{
		CredentialID: r.CredentialID, APIKeyHint: r.AccessToken, StatusCode: r.StatusCode, Reason: r.Reason, Message: r.Message,
		Model: r.Model, Headers: quota.Headers(r.Header),
		// The gateway selects its retry itself, excluding the keys this
		// request tried: a next picked here would count twice.
		NoNext: true,
	})
	switch {
	case err != nil:
		// The pool left the file between the select and the answer.
		b.d.log.Info("gateway report not applied", "provider", provider, "id", r.CredentialID, "code", r.StatusCode, "err", err)
	case seq > 0:
		b.d.kickIO()
	}
}
