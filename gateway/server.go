package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/credpool/credpool/internal/loopback"
	"github.com/credpool/credpool/redact"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the gateway: New it, then Run it (or mount Handler yourself).
type Server struct {
	cfg       Config
	b         Backend
	upstreams map[string]*url.URL
	tokenSum  [sha256.Size]byte
	// red cuts the gateway token, and token shapes, out of the client's
	// own text before it is logged (a token pasted into the path).
	red     *redact.Redactor
	log     *slog.Logger
	metrics *metrics
	proxy   *httputil.ReverseProxy

	mu sync.Mutex
	ln net.Listener
}

// New checks cfg (errors wrap ErrConfig) and builds a Server on b.
func New(cfg Config, b Backend) (*Server, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no backend", ErrConfig)
	}
	cfg, upstreams, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, b: b, upstreams: upstreams,
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
		red:      redact.New(cfg.Token),
		log:      cfg.Logger,
		metrics:  newMetrics(),
	}
	// ReverseProxy does the HTTP plumbing that is easy to get wrong by
	// hand: hop-by-hop headers, trailers, 1xx, upgrades, flushing event
	// streams as they come, cancelling upstream when the client goes. The
	// rotation lives in its Transport.
	s.proxy = &httputil.ReverseProxy{
		Rewrite:      s.rewrite,
		Transport:    &rotator{s: s},
		ErrorHandler: s.proxyError,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BufferPool:   CopyBuffers(),
	}
	return s, nil
}

// CopyBuffers is a new pool of the copy buffers the gateway's
// ReverseProxy uses, exported so that a benchmark's bare proxy can use the
// same. Without a pool ReverseProxy makes a 32 KiB buffer for every
// response it copies, which at a few thousand requests a second was most of
// the daemon's garbage, and kept the garbage collector running flat out
// under the daemon's soft memory limit.
func CopyBuffers() httputil.BufferPool { return &copyBuffers{} }

type copyBuffers struct{ p sync.Pool }

const copyBufferSize = 32 << 10 // what ReverseProxy makes without a pool

func (b *copyBuffers) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufferSize)
}

func (b *copyBuffers) Put(buf []byte) { b.p.Put(&buf) }

// Handler is the gateway's HTTP handler, for tests and for a caller that
// serves it itself (on loopback: it trusts its listener's reach).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Collectors are the gateway's metrics, for the daemon's registry.
func (s *Server) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Listen binds the listen address (once) and returns it; with port 0 that
// is how a caller learns the port. Run calls it if the caller did not.
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen: %w", err)
	}
	// "localhost" resolved by a hosts file that points elsewhere.
	if !loopback.Is(hostOf(ln.Addr().String())) {
		_ = ln.Close()
		return nil, fmt.Errorf("gateway: listen: %s resolved to %s: %w", s.cfg.Addr, ln.Addr(), ErrNotLoopback)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Run serves until ctx ends, then shuts down: it stops accepting, lets
// requests under way (streams included) finish for ShutdownGrace, and
// closes what is left. It returns nil after a shutdown.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	s.mu.Lock()
	l := s.ln
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("gateway listening", "addr", ln.String())
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("gateway: requests still running at the end of the shutdown grace; closing them", "grace", s.cfg.ShutdownGrace)
		_ = srv.Close()
	}
	// Connections kept open to the upstreams would outlive the gateway.
	if t, ok := s.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }
