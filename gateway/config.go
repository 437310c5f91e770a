package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/credpool/credpool/pool"
)

// Defaults of Config.
const (
	DefaultAddr          = "127.0.0.1:8484"
	DefaultMaxBody       = 32 << 20 // 32 MiB: a long agent context with images
	DefaultMaxAttempts   = 4
	DefaultShutdownGrace = 10 * time.Second
)

// Config tunes a Server. Zero values take the defaults noted.
type Config struct {
	// Addr is the listen address, loopback only (see ValidateAddr);
	// default DefaultAddr. Port 0 picks a free port (see Server.Listen).
	Addr string
	// Token is the gateway token every request must carry (see
	// LoadOrCreateToken). Required.
	Token string
	// Upstreams maps a pool to its upstream base URL, over DefaultUpstreams.
	Upstreams map[string]string
	// MaxBody is the largest request body buffered for re-sending; larger
	// gets 413. Default DefaultMaxBody.
	MaxBody int64
	// MaxAttempts bounds the upstream calls for one request (the first
	// and the retries after 401, 402 and 429). Default DefaultMaxAttempts.
	MaxAttempts int
	// Logger gets one line per request; default slog.Default().
	Logger *slog.Logger
	// Now is the clock (Retry-After, latency); default time.Now.
	Now func() time.Time
	// Transport sends the upstream requests; default a clone of
	// http.DefaultTransport (TLS verified) with more idle connections.
	Transport http.RoundTripper
	// ShutdownGrace is how long Run waits for requests under way (streams
	// included) once its context ends; default DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

// maxIdlePerHost is how many idle connections to one upstream host are
// kept (each a few KiB; they close after 90 s unused).
const maxIdlePerHost = 256

// UpstreamTransport is a new transport as the gateway sends upstream with
// when Config.Transport is nil: a clone of http.DefaultTransport (TLS
// verified, proxy from the environment) that keeps more idle connections.
// It is exported so that a benchmark's bare proxy can use the same.
func UpstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Many agents share one upstream host: keep a connection for each
	// stream of a busy machine. With http.DefaultTransport's 100 in all,
	// 200 streams made 100 new connections (a TLS handshake each, to a
	// real provider) every time they ended together.
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, maxIdlePerHost
	return t
}

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("gateway: bad config")

// withDefaults fills the zero values and checks the rest; upstreams is
// DefaultUpstreams overlaid with cfg.Upstreams, parsed.
func (cfg Config) withDefaults() (Config, map[string]*url.URL, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := ValidateAddr(cfg.Addr); err != nil {
		return cfg, nil, fmt.Errorf("%w: addr: %w", ErrConfig, err)
	}
	if cfg.Token == "" {
		return cfg, nil, fmt.Errorf("%w: token is required", ErrConfig)
	}
	if cfg.MaxBody < 0 || cfg.MaxAttempts < 0 || cfg.ShutdownGrace < 0 {
		return cfg, nil, fmt.Errorf("%w: max_body, max_attempts and shutdown_grace must not be negative", ErrConfig)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = UpstreamTransport()
	}
	upstreams := make(map[string]*url.URL, len(DefaultUpstreams)+len(cfg.Upstreams))
	for name, raw := range DefaultUpstreams {
		u, err := ParseBase(raw)
		if err != nil {
			panic("gateway: DefaultUpstreams[" + name + "]: " + err.Error())
		}
		upstreams[name] = u
	}
	for name, raw := range cfg.Upstreams {
		if err := pool.ValidProvider(name); err != nil {
			return cfg, nil, fmt.Errorf("%w: upstreams: pool name %s: %w", ErrConfig, pool.Quote(name), err)
		}
		u, err := ParseBase(raw)
		if err != nil {
			return cfg, nil, fmt.Errorf("%w: upstreams.%s: %w", ErrConfig, name, err)
		}
		upstreams[name] = u
	}
	return cfg, upstreams, nil
}

// validPool: a pool is a provider of the pool, so its name is what the
// pool takes for one (openai, openai-codex, custom:together.ai). Anything
// else is no pool, and never a label value.
func validPool(p string) bool { return pool.ValidProvider(p) == nil }
