package packaging

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kardianos/service"
)

// readyPollInterval is how often Run asks the probe whether the socket
// answers before it sends READY=1.
const readyPollInterval = 100 * time.Millisecond

// Run runs fn, the daemon's body, as the service process: until ctx ends,
// SIGTERM or SIGINT arrives, or fn returns by itself. fn's context is
// cancelled on the way out and Run returns fn's error (nil when fn stopped
// because of that cancellation).
//
// Under systemd (Type=notify), Run sends READY=1 once opts.Probe first
// succeeds, so that `systemctl start` returns only when the socket answers,
// and STOPPING=1 when it begins to stop. Without a probe it sends READY=1
// at once. Run goes through kardianos/service, and runs fn directly where
// that library finds no service manager (containers).
func Run(ctx context.Context, fn func(context.Context) error, opts Options) error {
	sigCtx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stopSignals()
	p := &program{fn: fn, probe: opts.Probe, done: make(chan struct{})}
	svc, err := service.New(p, &service.Config{
		Name:   ServiceName,
		Option: service.KeyValue{"RunWait": func() { p.wait(sigCtx) }},
	})
	if err != nil {
		if err := p.Start(nil); err != nil {
			return err
		}
		p.wait(sigCtx)
		return p.Stop(nil)
	}
	return svc.Run()
}

// program adapts fn to kardianos' Start/Stop interface.
type program struct {
	fn     func(context.Context) error
	probe  func(context.Context) error
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.err = p.fn(ctx)
	}()
	go p.notifyWhenReady(ctx)
	return nil
}

// wait blocks until a stop is asked for or fn ends by itself.
func (p *program) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}

func (p *program) Stop(service.Service) error {
	if err := NotifyStopping(); err != nil {
		slog.Warn("sd_notify STOPPING=1 failed", "err", err)
	}
	p.cancel()
	<-p.done
	if errors.Is(p.err, context.Canceled) {
		return nil
	}
	return p.err
}

func (p *program) notifyWhenReady(ctx context.Context) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	if p.probe != nil {
		tick := time.NewTicker(readyPollInterval)
		defer tick.Stop()
		for p.probe(ctx) != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
	if err := NotifyReady(); err != nil {
		slog.Warn("sd_notify READY=1 failed", "err", err)
	}
}
