// Package daemon is credpool's runtime: it owns the live pool, watches
// auth.json, runs the ticker, persists this process's changes through
// authfile.Update, publishes events and serves the socket API.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// Config is what Run needs. Zero durations take the defaults noted.
type Config struct {
	AuthFile string
	Socket   string
	Version  string
	Pool     pool.Config
	Tick     time.Duration // default 60s
	// Debounce absorbs bursts of file events; default 10ms.
	Debounce time.Duration
	// FlushInterval bounds how often batched counters are written; default 1s.
	FlushInterval time.Duration
	// LockTimeout is how long a write waits for auth.lock; default 15s.
	LockTimeout time.Duration
	Logger      *slog.Logger
	// OnReady is called once the socket answers (sd_notify READY=1), and
	// OnStopping when shutdown begins.
	OnReady    func()
	OnStopping func()
}

func (c *Config) defaults() {
	if c.Tick <= 0 {
		c.Tick = 60 * time.Second
	}
	if c.Debounce <= 0 {
		c.Debounce = 10 * time.Millisecond
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.LockTimeout <= 0 {
		c.LockTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.Pool.Now == nil {
		c.Pool.Now = time.Now
	}
	if c.OnReady == nil {
		c.OnReady = func() {}
	}
	if c.OnStopping == nil {
		c.OnStopping = func() {}
	}
}

// ErrAlreadyRunning is returned when another daemon holds the instance lock.
var ErrAlreadyRunning = errors.New("another credpool daemon is running")

// Daemon is the running service. It implements socketapi.Backend.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	store *authfile.Store
	hub   *hub

	mu   sync.Mutex // guards pool, avail
	pool *pool.Pool
	// avail is closed and replaced whenever something may have become
	// available, to wake waiting selects without polling.
	avail chan struct{}

	// kick tells the io loop that state changed (flush, re-arm the wake timer).
	kick chan struct{}
	// stopping is closed when shutdown begins, to end waiting selects.
	stopping chan struct{}

	// flushArmed is set while a batched write is scheduled, so the select
	// hot path need not wake the io loop again.
	flushArmed atomic.Bool

	health atomic.Pointer[healthState]
	stats  stats
}

type healthState struct {
	degraded     bool
	lastError    string
	lastReloadAt float64
}

type stats struct {
	reloads, reloadErrors, prunes atomic.Uint64
	mu                            sync.Mutex
	transitions                   map[string]uint64
}

// New prepares a daemon; Run starts it.
func New(cfg Config) *Daemon {
	cfg.defaults()
	store := authfile.NewStore(cfg.AuthFile)
	store.LockTimeout = cfg.LockTimeout
	d := &Daemon{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    store,
		hub:      newHub(),
		pool:     pool.New(cfg.Pool),
		avail:    make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stopping: make(chan struct{}),
	}
	d.stats.transitions = make(map[string]uint64)
	d.health.Store(&healthState{})
	return d
}

// Run runs a daemon with cfg until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return New(cfg).Run(ctx)
}

// Run serves until ctx ends, then stops accepting, finishes requests in
// flight, flushes pending changes and removes the socket.
func (d *Daemon) Run(ctx context.Context) error {
	unlock, err := acquireInstance(d.cfg.Socket)
	if err != nil {
		return err
	}
	defer unlock()

	loop := newIOLoop(d)
	if err := loop.initialLoad(); err != nil {
		return err
	}

	// A socket file left by a killed daemon is stale: we hold the instance
	// lock, so nobody is serving on it.
	if err := os.Remove(d.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("daemon: remove stale socket: %w", err)
	}
	ln, err := socketapi.Listen(d.cfg.Socket)
	if err != nil {
		return fmt.Errorf("daemon: listen: %w", err)
	}
	defer os.Remove(d.cfg.Socket)

	srv := socketapi.NewServer(d, socketapi.ServerOptions{Logger: d.log})

	ioCtx, stopIO := context.WithCancel(context.Background())
	ioDone := make(chan error, 1)
	go func() { ioDone <- loop.run(ioCtx) }()

	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(serveCtx, ln) }()

	d.log.Info("credpool daemon started", "socket", d.cfg.Socket, "auth_file", d.cfg.AuthFile, "version", d.cfg.Version)
	d.cfg.OnReady()

	// Whichever ends first (the caller, the server, the io loop) stops the
	// rest; an error from either part is the daemon's error.
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveDone:
		runErr = fmt.Errorf("daemon: serve: %w", err)
		serveDone <- nil // already collected
	case err := <-ioDone:
		runErr = fmt.Errorf("daemon: io loop: %w", err)
		ioDone <- nil // already collected
	}

	d.cfg.OnStopping()
	d.log.Info("credpool daemon stopping")
	close(d.stopping)
	stopServe()
	if err := <-serveDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("daemon: serve: %w", err)
	}
	stopIO()
	if err := <-ioDone; err != nil && runErr == nil {
		runErr = err
	}
	// Last flush, bounded so a held lock cannot keep us from exiting.
	flushCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := loop.flush(flushCtx); err != nil {
		d.log.Warn("final flush failed; changes since the last write are lost", "err", err)
	}
	d.log.Info("credpool daemon stopped")
	return runErr
}

// wake tells waiting selects to look again. Callers hold d.mu.
func (d *Daemon) wakeLocked() {
	close(d.avail)
	d.avail = make(chan struct{})
}

func (d *Daemon) kickIO() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// apply publishes changes as events, logs and stats. It never sees secrets:
// pool.Change carries none.
func (d *Daemon) apply(changes []pool.Change) {
	for _, c := range changes {
		attrs := []any{"provider", c.Provider, "id", c.ID, "label", c.Label, "cause", c.Cause}
		switch c.Kind {
		case pool.ChangeDead:
			d.log.Warn("credential dead", append(attrs, "code", c.Code, "reason", c.Reason)...)
			d.countTransition("dead")
		case pool.ChangeExhausted:
			d.log.Info("credential exhausted", append(attrs, "code", c.Code, "reason", c.Reason, "until", formatEpoch(c.Until))...)
			d.countTransition("exhausted")
		case pool.ChangeRecovered:
			d.log.Info("credential recovered", append(attrs, "reason", c.Reason)...)
			d.countTransition("ok")
		case pool.ChangePruned:
			d.log.Info("credential pruned", attrs...)
			d.stats.prunes.Add(1)
		case pool.ChangeAdded:
			d.log.Info("credential added", attrs...)
		case pool.ChangeRemoved:
			d.log.Info("credential removed", attrs...)
		}
		d.hub.publish(socketapi.Event{
			Type: string(c.Kind), At: c.At, Provider: c.Provider, ID: c.ID, Label: c.Label,
			Code: c.Code, Reason: c.Reason, Until: c.Until, Cause: c.Cause,
		})
	}
}

func (d *Daemon) countTransition(status string) {
	d.stats.mu.Lock()
	d.stats.transitions[status]++
	d.stats.mu.Unlock()
}

func (d *Daemon) now() float64 { return epoch(d.cfg.Pool.Now()) }

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func formatEpoch(s float64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(0, int64(s*1e9)).UTC().Format(time.RFC3339)
}

// instanceLockPath is the single-instance lock: beside the socket, so that
// two daemons for the same socket exclude each other.
func instanceLockPath(socket string) string {
	return filepath.Join(filepath.Dir(socket), filepath.Base(socket)+".lock")
}
