// Package daemon is credpool's runtime: it owns the live pool, watches
// auth.json, runs the ticker, persists this process's changes through
// authfile, answers changes only once they are on disk, publishes events and
// serves the socket API.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// Defaults of Config.
const (
	DefaultTick          = 60 * time.Second
	DefaultDebounce      = 10 * time.Millisecond
	DefaultFlushInterval = time.Second
	// DefaultAnswerTimeout is how long an answer that reports a change waits
	// for it to reach the disk before it says "persisted": false.
	DefaultAnswerTimeout = 2 * time.Second
	// DefaultStopTimeout is how long a stop waits for pending writes; the
	// service units give systemd and launchd more than this.
	DefaultStopTimeout = 15 * time.Second
)

// Config is what Run needs. Zero values take the defaults above.
type Config struct {
	AuthFile string
	Socket   string
	Version  string
	Pool     pool.Config
	Tick     time.Duration
	// Debounce absorbs bursts of file events.
	Debounce time.Duration
	// FlushInterval bounds how often batched counters are written.
	FlushInterval time.Duration
	// AnswerTimeout bounds the wait of an answer for its change to be
	// written; the change is served meanwhile and written when it can be.
	AnswerTimeout time.Duration
	// StopTimeout bounds the wait for pending writes at a stop.
	StopTimeout time.Duration
	// MaxFileSize caps what is read of auth.json; 0 = authfile's default.
	MaxFileSize int64
	// OAuth refresh: how long before expiry, token endpoint overrides by
	// provider, the HTTP client (nil: the default), and the other tools
	// whose logins are followed (Logins) and refreshed by credpool
	// itself (RefreshExternal, by source name).
	RefreshHorizon  time.Duration
	TokenURLs       map[string]string
	TokenClient     *http.Client
	Logins          []extlogin.Source
	RefreshExternal []string
	// ClaudeCredentials is Claude Code's credentials file, followed or
	// not: Hermes keeps its ledger of spent refresh tokens of Claude Code
	// logins beside it ("" when there is no home to find it in).
	ClaudeCredentials string
	// Gateway turns on the local provider gateway (Addr "" = off).
	Gateway GatewayConfig
	Logger  *slog.Logger
	// OnReady is called once the socket answers (sd_notify READY=1), and
	// OnStopping when shutdown begins.
	OnReady    func()
	OnStopping func()
}

func (c *Config) defaults() {
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.AnswerTimeout <= 0 {
		c.AnswerTimeout = DefaultAnswerTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
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

// ErrUnwritten is returned by Run when a stop left answered changes that
// could not be written within the stop timeout.
var ErrUnwritten = errors.New("changes could not be written before the stop")

// Daemon is the running service. It implements socketapi.Backend.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	store *authfile.Store
	hub   *hub

	mu   sync.Mutex // guards pool, avail and the durability state
	pool *pool.Pool
	// avail is closed and replaced whenever something may have become
	// available, to wake waiting selects without polling.
	avail chan struct{}
	dur   durability

	// kick tells the io loop that state changed (write, re-arm the timers).
	kick chan struct{}
	// stopping is closed when shutdown begins, to end waiting selects.
	stopping chan struct{}

	// writeArmed is set while a write is scheduled, so the select hot path
	// need not wake the io loop again.
	writeArmed atomic.Bool
	// seen is the auth.json version the daemon last read or wrote (the io
	// loop's, shared with the refresher's writes under a held lock), so
	// that every write can tell a file that vanished since from a file
	// that never was.
	seen atomic.Pointer[authfile.Version]

	health atomic.Pointer[healthState]
	stats  stats

	refresher *refresher
	logins    *logins
	ledgers   ledgers
	// gw is the gateway, nil when off; set before the socket serves.
	gw *gatewayRun
}

type healthState struct {
	readErr      string  // the file cannot be read as it is
	writeErr     string  // writes keep failing
	pendingSince float64 // changes wait for the disk since then (0 = none)
	lastReloadAt float64
}

type stats struct {
	reloads, reloadErrors, prunes, writeErrors atomic.Uint64
	mu                                         sync.Mutex
	transitions                                map[string]uint64
	refreshes                                  map[[2]string]uint64 // provider, outcome
}

func (s *stats) refresh(provider, outcome string) {
	s.mu.Lock()
	s.refreshes[[2]string{provider, outcome}]++
	s.mu.Unlock()
}

// New prepares a daemon; Run starts it.
func New(cfg Config) *Daemon {
	cfg.defaults()
	store := authfile.NewStore(cfg.AuthFile)
	store.Now = cfg.Pool.Now
	if cfg.MaxFileSize > 0 {
		store.MaxSize = cfg.MaxFileSize
	}
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
	d.dur.written = make(chan struct{})
	d.stats.transitions = make(map[string]uint64)
	d.stats.refreshes = make(map[[2]string]uint64)
	d.refresher = newRefresher(d)
	d.logins = newLogins(d)
	d.health.Store(&healthState{})
	return d
}

// Run runs a daemon with cfg until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return New(cfg).Run(ctx)
}

// Run serves until ctx ends, then stops accepting, finishes requests in
// flight, writes what is pending (for up to the stop timeout) and removes
// the socket. Changes it had answered but could not write make it return
// ErrUnwritten.
func (d *Daemon) Run(ctx context.Context) error {
	unlock, err := acquireInstance(d.cfg.Socket)
	if err != nil {
		return err
	}
	defer unlock()

	loop := newIOLoop(d)
	if err := loop.start(); err != nil {
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
	if d.gw, err = d.openGateway(); err != nil {
		_ = ln.Close()
		return err
	}

	srv := socketapi.NewServer(d, socketapi.ServerOptions{Logger: d.log, Now: d.cfg.Pool.Now, Collectors: d.gw.collectors()})

	ioCtx, stopIO := context.WithCancel(context.Background())
	ioDone := make(chan error, 1)
	go func() { ioDone <- loop.run(ioCtx) }()

	// OAuth refreshes and other tools' logins: stopped with the io loop,
	// before the last writes.
	var side sync.WaitGroup
	side.Add(2)
	go func() { defer side.Done(); _ = d.refresher.Run(ioCtx) }()
	go func() {
		defer side.Done()
		if err := d.logins.Run(ioCtx); err != nil {
			d.log.Warn("following other tools' logins stopped", "err", err)
		}
	}()

	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(serveCtx, ln) }()
	d.gw.start(serveCtx)

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
	case err := <-d.gw.failed():
		if err != nil {
			runErr = fmt.Errorf("daemon: %w", err)
		}
		d.gw.done <- nil // already collected
	}

	d.cfg.OnStopping()
	d.log.Info("credpool daemon stopping")
	close(d.stopping)
	stopServe()
	if err := <-serveDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("daemon: serve: %w", err)
	}
	if err := d.gw.wait(); err != nil && runErr == nil {
		runErr = err
	}
	stopIO()
	if err := <-ioDone; err != nil && runErr == nil {
		runErr = err
	}
	side.Wait()
	if err := loop.drain(); err != nil && runErr == nil {
		runErr = err
	}
	d.log.Info("credpool daemon stopped")
	return runErr
}

// wakeLocked tells waiting selects to look again. Callers hold d.mu.
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
// pool.Change carries none, and reasons are redacted by pool.
func (d *Daemon) apply(changes []pool.Change) {
	for _, c := range changes {
		attrs := []any{"provider", c.Provider, "id", c.ID, "label", c.Label, "cause", c.Cause}
		switch c.Kind {
		case pool.ChangeDead:
			d.log.Warn("credential dead", append(attrs, "code", c.Code, "reason", c.Reason)...)
			d.countTransition("dead")
		case pool.ChangeExhausted:
			d.log.Info("credential exhausted", append(attrs, "code", c.Code, "reason", c.Reason, "until", epoch.Format(c.Until))...)
			d.countTransition("exhausted")
		case pool.ChangeModelCooldown:
			d.log.Info("credential benched for a model", append(attrs, "model", c.Model, "code", c.Code, "until", epoch.Format(c.Until))...)
		case pool.ChangeRecovered:
			d.log.Info("credential recovered", append(attrs, "reason", c.Reason)...)
			d.countTransition("ok")
		case pool.ChangePruned:
			d.log.Info("credential pruned", attrs...)
			d.stats.prunes.Add(1)
		case pool.ChangeRefreshed:
			d.log.Info("credential refreshed", append(attrs, "expires", epoch.Format(c.Until))...)
		case pool.ChangeRefreshFailed:
			d.log.Warn("credential refresh failed", append(attrs, "status", c.Code, "reason", c.Reason)...)
		case pool.ChangeAdded:
			d.log.Info("credential added", attrs...)
		case pool.ChangeRemoved:
			d.log.Info("credential removed", attrs...)
		}
		d.hub.publish(apitype.Event{
			Type: string(c.Kind), At: c.At, Provider: c.Provider, ID: c.ID, Label: c.Label,
			Code: c.Code, Reason: c.Reason, Until: c.Until, Model: c.Model, Cause: c.Cause,
		})
	}
}

func (d *Daemon) countTransition(status string) {
	d.stats.mu.Lock()
	d.stats.transitions[status]++
	d.stats.mu.Unlock()
}
