// Package cli is credpool's command line: subcommands, flags, output and
// exit codes. cmd/credpool only hands it the process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/packaging"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// Version is set at build time with -ldflags "-X github.com/credpool/credpool/cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes (DESIGN §6 and issue 3).
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitUnreachable = 3
	ExitNoneAvail   = 4
)

// Env is the process as the CLI sees it, so tests can run it in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// errUsage marks a command-line mistake (exit 2).
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
func (e usageError) Unwrap() error { return errUsage }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, e Env, args []string) error
	hidden  bool
}

func commands() []command {
	return []command{
		{"daemon", "[--print-config]", "run the daemon in the foreground (what the service runs)", runDaemon, false},
		{"service", "install|uninstall|start|stop|restart|status [--system]", "manage the per-user (or --system) service", runService, false},
		{"status", "[PROVIDER] [--json]", "pools, entries, cooldowns, DEAD reasons", runStatus, false},
		{"select", "PROVIDER [--lease] [--model M] [--wait D] [--token] [--json]", "pick a credential (--token prints only the token)", runSelect, false},
		{"report", "PROVIDER --id ID --status CODE [--reason R] [--message M] [--retry-after S] [--model M]", "tell the daemon how the provider answered", runReport, false},
		{"release", "LEASE_ID", "release a lease", runRelease, false},
		{"add", "PROVIDER [--label L] [--type api_key|oauth] [--base-url U]", "add a credential (secret from stdin or a no-echo prompt)", runAdd, false},
		{"remove", "PROVIDER TARGET", "remove a credential (id, label or 1-based index)", runRemove, false},
		{"reset", "PROVIDER [TARGET]", "clear cooldowns and DEAD marks", runReset, false},
		{"repair", "PROVIDER", "give rows that repeat another row's id an id of their own", runRepair, false},
		{"events", "", "follow the event stream", runEvents, false},
		{"gateway", "token | url POOL", "print the gateway token (made at first use), or a pool's gateway base URL", runGateway, false},
		{"version", "", "print the version", runVersion, false},
		{"man", "", "print the credpool(1) man page", runMan, true},
	}
}

// Usage is the help text; the man page is generated from it.
func Usage() string {
	var b strings.Builder
	b.WriteString("credpool - one per-user daemon that owns your LLM credential pool\n\n")
	b.WriteString("Usage:\n  credpool COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		fmt.Fprintf(&b, "  %-8s %s\n           %s\n", c.name, c.args, c.summary)
	}
	names := config.ClientFlags()
	for i, f := range names {
		names[i] = "--" + f
	}
	fmt.Fprintf(&b, `
Settings (flags > environment > config file > defaults; every command takes
%s and %s, the daemon takes them all):
`, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	b.WriteString(config.FlagHelp())
	b.WriteString(`
Exit codes:
  0  ok
  1  error
  2  usage
  3  daemon not reachable
  4  no credential available
`)
	return b.String()
}

// Main runs the command line and returns the exit code.
func Main(args []string, e Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, Usage())
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(e.Stderr, "credpool: unknown command %q; run 'credpool help' for the list\n", args[0])
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, e, args[1:])
	return report(e, cmd.name, err)
}

// report prints err with what to do next and maps it to an exit code.
func report(e Env, name string, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var apiErr *apitype.APIError
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.Stderr, "credpool %s: %v\nRun 'credpool help' for usage.\n", name, err)
		return ExitUsage
	case errors.Is(err, socketapi.ErrDaemonNotRunning), errors.Is(err, packaging.ErrNotRunning), errors.Is(err, packaging.ErrNotInstalled):
		fmt.Fprintf(e.Stderr, "credpool %s: %v\nStart it with 'credpool daemon' (or 'credpool service install'), or pass --socket if it listens elsewhere.\n", name, err)
		return ExitUnreachable
	case errors.Is(err, pool.ErrNoneAvailable):
		fmt.Fprintf(e.Stderr, "credpool %s: %v\n", name, err)
		return ExitNoneAvail
	case errors.As(err, &apiErr) && apiErr.Status == 404:
		fmt.Fprintf(e.Stderr, "credpool %s: %v\nRun 'credpool status' to see the pools and entries.\n", name, err)
		return ExitError
	default:
		fmt.Fprintf(e.Stderr, "credpool %s: %v\n", name, err)
		return ExitError
	}
}

// flags builds a client subcommand's flag set with config.ClientFlags on
// it; daemonFlags has every setting.
func flags(e Env, name string) (*flag.FlagSet, *config.Loader) {
	fs := flag.NewFlagSet("credpool "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs, config.RegisterClientFlags(fs)
}

func daemonFlags(e Env) (*flag.FlagSet, *config.Loader) {
	fs := flag.NewFlagSet("credpool daemon", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs, config.RegisterFlags(fs)
}

// parse parses args, allowing flags after positional arguments
// ("credpool select openrouter --token").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func load(e Env, l *config.Loader) (config.Settings, error) {
	s, err := l.Load(e.Getenv)
	if err != nil {
		return s, usageError{err.Error()}
	}
	return s, nil
}

func client(s config.Settings) *socketapi.Client { return socketapi.NewClient(s.Socket) }

// store is the auth file the settings name, read within their
// max_file_size: every command that reads or writes auth.json itself (an
// offline status or admin command) builds it here. The daemon gets the
// same limit through daemon.Config.
func store(s config.Settings) *authfile.Store {
	st := authfile.NewStore(s.AuthFile)
	st.MaxSize = s.MaxFileSize
	return st
}

// quickClient does not wait for a starting daemon: for status and probes, an
// absent daemon is an answer, not something to wait out.
func quickClient(s config.Settings) *socketapi.Client {
	c := socketapi.NewClient(s.Socket)
	c.DialRetry = -1
	return c
}

func runVersion(_ context.Context, e Env, args []string) error {
	fs, _ := flags(e, "version") // accepts the settings flags every command takes
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintf(e.Stdout, "credpool %s\n", Version)
	return nil
}
