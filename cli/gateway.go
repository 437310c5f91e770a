package cli

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/daemon"
	"github.com/credpool/credpool/gateway"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// gatewayTokenFile is where the daemon and `credpool gateway token` keep
// the gateway token: beside the config.
func gatewayTokenFile(e Env) (string, error) {
	p, ok := paths.GatewayToken(e.Getenv)
	if !ok {
		return "", errors.New("no place for the gateway token: set HOME or XDG_CONFIG_HOME")
	}
	return p, nil
}

// gatewayConfig is the daemon's gateway share of the settings. The token
// file is only needed when the gateway is on.
func gatewayConfig(e Env, s config.Settings) (daemon.GatewayConfig, error) {
	if s.Gateway == "" {
		return daemon.GatewayConfig{}, nil
	}
	tok, err := gatewayTokenFile(e)
	if err != nil {
		return daemon.GatewayConfig{}, err
	}
	return daemon.GatewayConfig{Addr: s.Gateway, TokenFile: tok, Upstreams: s.Upstreams}, nil
}

func runGateway(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "gateway")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("gateway needs a subcommand: token, or url POOL")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "token":
		if len(pos) > 1 {
			return usagef("gateway token takes no arguments")
		}
		return printGatewayToken(e)
	case "url":
		if len(pos) != 2 {
			return usagef("gateway url takes one pool, e.g. credpool gateway url openai")
		}
		return printGatewayURL(ctx, e, s, pos[1])
	}
	return usagef("unknown gateway subcommand %q; want token or url", pos[0])
}

// printGatewayToken prints the token, making it (as the daemon would) when
// there is none yet, so that a client can be set up before the daemon's
// first start with the gateway on.
func printGatewayToken(e Env) error {
	path, err := gatewayTokenFile(e)
	if err != nil {
		return err
	}
	tok, err := gateway.LoadOrCreateToken(path)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.Stdout, tok)
	return err
}

// printGatewayURL prints the base URL a client uses for pool: what the
// running daemon's gateway serves (its real port, when the config said 0),
// or, with no daemon running, the configured address.
func printGatewayURL(ctx context.Context, e Env, s config.Settings, name string) error {
	if err := pool.ValidProvider(name); err != nil {
		return usagef("gateway url: %v", err)
	}
	h, err := quickClient(s).Health(ctx)
	var addr string
	switch {
	case err == nil && h.Gateway == nil:
		return errors.New("the running daemon serves no gateway: set gateway = \"" + gateway.DefaultAddr +
			"\" in the config (or pass --gateway to credpool daemon) and restart it")
	case err == nil:
		addr = apitype.Value(h.Gateway)
	case errors.Is(err, socketapi.ErrDaemonNotRunning) && s.Gateway != "" && !endsInPortZero(s.Gateway):
		addr = s.Gateway
		fmt.Fprintln(e.Stderr, "credpool gateway url: the daemon is not running; this is the configured address")
	case errors.Is(err, socketapi.ErrDaemonNotRunning):
		return fmt.Errorf("%w, and no fixed gateway address is configured", err)
	default:
		return err
	}
	_, err = fmt.Fprintf(e.Stdout, "http://%s/%s\n", addr, name)
	return err
}

func endsInPortZero(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}
