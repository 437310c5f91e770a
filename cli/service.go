package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/credpool/credpool/packaging"
)

func runService(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "service")
	system := fs.Bool("system", false, "install a system service instead of a per-user one")
	user := fs.String("user", "", "with --system: the user the service runs as")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("service needs one action: install, uninstall, start, stop, restart or status")
	}
	switch pos[0] {
	case "install", "uninstall", "start", "stop", "restart", "status":
	default:
		return usagef("unknown service action %q: use install, uninstall, start, stop, restart or status", pos[0])
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	return packaging.Control(ctx, pos[0], packaging.Options{
		System:     *system,
		User:       *user,
		AuthFile:   s.AuthFile,
		Socket:     s.Socket,
		ConfigFile: s.ConfigFile,
		Out:        e.Stdout,
		Probe: func(ctx context.Context) error {
			_, err := quickClient(s).Health(ctx)
			return err
		},
	})
}

func runMan(_ context.Context, e Env, args []string) error {
	if len(args) > 0 {
		return usagef("man takes no arguments")
	}
	// SOURCE_DATE_EPOCH keeps package builds reproducible.
	date := time.Now()
	if sec, err := strconv.ParseInt(e.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		date = time.Unix(sec, 0).UTC()
	}
	_, err := e.Stdout.Write(packaging.ManPage(Usage(), Version, date))
	if err != nil {
		return fmt.Errorf("write man page: %w", err)
	}
	return nil
}
