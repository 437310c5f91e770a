package socketapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credpool/credpool/apitype"
)

// MaxBodyBytes is the largest request body the server reads; larger ones get
// 413.
const MaxBodyBytes = 1 << 20

// maxHeaderBytes bounds the request line and headers; net/http answers 431
// past it.
const maxHeaderBytes = 64 << 10

// The defaults of ServerOptions' timeouts.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultShutdownGrace     = 3 * time.Second
)

// ServerOptions tune a Server. Zero values take the defaults noted.
type ServerOptions struct {
	// Logger receives request errors, panics and refused peers; default
	// slog.Default().
	Logger *slog.Logger
	// ReadHeaderTimeout cuts off a client that is slow to send its headers
	// (default DefaultReadHeaderTimeout). ReadTimeout covers reading the
	// whole request (default DefaultReadTimeout); net/http lifts it once
	// the request is read, so a select that waits and the event stream are
	// not cut short. IdleTimeout closes idle keep-alive connections
	// (default DefaultIdleTimeout). There is no write timeout: a select may
	// wait 30 s and events stream for as long as the follower stays.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// ShutdownGrace is how long Serve lets requests in flight finish after
	// its context ends before it cuts them off (default
	// DefaultShutdownGrace).
	ShutdownGrace time.Duration
	// AllowUID decides whether a peer uid may talk to the server; default:
	// the server's own uid or root.
	AllowUID func(uid int) bool
	// Now is the clock used for retry_after_s; default time.Now.
	Now func() time.Time
	// Collectors are served on /metrics beside the server's own (the
	// daemon's gateway registers its metrics here).
	Collectors []prometheus.Collector
}

// Server serves a Backend over HTTP. Create it with NewServer; Serve may be
// called once.
type Server struct {
	b       Backend
	log     *slog.Logger
	opts    ServerOptions
	handler http.Handler
	metrics *metrics

	track tracker
	// stop ends event streams and select waits when Serve shuts down; they
	// never finish on their own, so a graceful shutdown must end them first.
	stop     context.Context
	stopNow  context.CancelFunc
	serveMu  sync.Mutex
	serveUse bool
}

// NewServer returns a server for b.
func NewServer(b Backend, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.AllowUID == nil {
		opts.AllowUID = DefaultAllowUID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{b: b, log: opts.Logger, opts: opts}
	s.track.init()
	s.stop, s.stopNow = context.WithCancel(context.Background())
	s.metrics = newMetrics(b, opts.Collectors)
	s.handler = s.middleware(s.routes())
	return s
}

// DefaultAllowUID admits the process's own uid and root.
func DefaultAllowUID(uid int) bool { return uid == os.Getuid() || uid == 0 }

// Handler is the server's HTTP handler, with every middleware, for tests and
// for embedding. It does not check peer credentials: Serve's listener does.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on l until ctx ends, then stops accepting, ends event
// streams and select waits, lets requests in flight finish for ShutdownGrace,
// cuts off the rest and returns nil once every handler has returned. It
// closes l; removing the socket file is the caller's business. Every accepted
// connection's peer uid is checked with AllowUID before a byte is read (l must
// be a Unix socket listener, or one from Listen).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.serveMu.Lock()
	if s.serveUse {
		s.serveMu.Unlock()
		return errors.New("socketapi: Serve called twice")
	}
	s.serveUse = true
	s.serveMu.Unlock()

	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	pl := s.peerListener(l)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(pl) }()

	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	s.stopNow()
	grace, cancelGrace := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	if err := hs.Shutdown(grace); err != nil {
		s.log.Warn("socketapi: requests still running after the shutdown grace; cutting them off",
			"grace", s.opts.ShutdownGrace)
		cancelBase()
		_ = hs.Close()
	}
	cancelGrace()
	cancelBase()
	if serveErr == nil {
		serveErr = <-served
	}
	s.track.closeAndWait()
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("socketapi: serve: %w", serveErr)
}

// tracker counts handlers in flight so that Serve returns only after the last
// one; a WaitGroup cannot be used because a connection may still start a
// handler while Serve waits.
type tracker struct {
	mu     sync.Mutex
	cond   *sync.Cond
	n      int
	closed bool
}

func (t *tracker) init() { t.cond = sync.NewCond(&t.mu) }

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

func (t *tracker) leave() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	for t.n > 0 {
		t.cond.Wait()
	}
	t.mu.Unlock()
}

// statusWriter remembers whether and what was written, for the panic handler,
// the logs and the metrics. Unwrap keeps http.ResponseController working.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// FlushError lets http.ResponseController report a client that is gone.
func (w *statusWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Flush() { _ = w.FlushError() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware wraps every request: shutdown gate, panic recovery, the
// browser check and the body limit.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !s.track.enter() {
			rw.Header().Set("Retry-After", "1")
			writeError(rw, http.StatusServiceUnavailable, apitype.CodeShuttingDown, apitype.ErrShuttingDown.Error())
			return
		}
		defer s.track.leave()
		w := &statusWriter{ResponseWriter: rw}
		defer s.recoverPanic(w, r)

		// A browser page could reach a local HTTP server through a proxy or
		// a future Unix-socket fetch; no agent sends these headers.
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			writeError(w, http.StatusForbidden, apitype.CodeForbidden, "requests from browsers (Origin or Referer header) are refused")
			return
		}
		if r.ContentLength > MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, apitype.CodeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
			return
		}
		// The mux would redirect a path with an empty segment to its clean
		// form (a different route); an empty name is the caller's mistake.
		if strings.Contains(r.URL.Path, "//") {
			writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, "the path has an empty segment: a provider name, id or target is missing")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// recoverPanic answers 500 and logs the panic without the request body or
// the panic's value, which might hold a secret; a runtime error's text comes
// from the runtime alone and is kept.
func (s *Server) recoverPanic(w *statusWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack())}
	if re, ok := v.(runtime.Error); ok {
		attrs = append(attrs, "panic", re.Error())
	}
	s.log.Error("socketapi: handler panicked", attrs...)
	if w.status == 0 {
		writeError(w, http.StatusInternalServerError, apitype.CodeInternal, "internal error; see the daemon's log")
	}
}
