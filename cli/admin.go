package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/internal/statefile"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// The admin commands work with or without a running daemon. With one, they
// go through its API, so that they return only once the daemon serves the
// change and has written it (read your writes: a select right after an add
// finds the entry). Without one, they change auth.json under the lock with
// the same pool code the daemon runs.

func runAdd(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "add")
	label := fs.String("label", "", "label (default: generated)")
	typ := fs.String("type", "api_key", "api_key or oauth")
	baseURL := fs.String("base-url", "", "provider base URL")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("add needs exactly one PROVIDER (the secret is read from stdin, never from the command line)")
	}
	if *typ != "api_key" && *typ != "oauth" {
		return usagef("--type must be api_key or oauth, got %q", *typ)
	}
	if err := pool.ValidProvider(pos[0]); err != nil {
		return usageError{err.Error()}
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	secret, err := readSecret(e, pos[0])
	if err != nil {
		return err
	}
	req := apitype.AddRequest{Label: *label, AuthType: *typ, AccessToken: secret, BaseURL: *baseURL}
	var added apitype.Entry
	pers, err := change(ctx, e, s, func(c *socketapi.Client) (apitype.Persistence, error) {
		res, err := c.AddEntry(ctx, pos[0], req)
		added = res.Entry
		return res.Persistence, err
	}, func(p *pool.Pool) error {
		v, _, err := p.Add(pos[0], pool.NewEntry{Label: req.Label, AuthType: req.AuthType, AccessToken: req.AccessToken, BaseURL: req.BaseURL})
		added = apitype.EntryFrom(v)
		return err
	})
	if err != nil {
		return err
	}
	hint := ""
	if added.TokenHint != nil {
		hint = *added.TokenHint
	}
	fmt.Fprintf(e.Stdout, "added %s %q to %s (priority %d, token …%s)\n", added.ID, printable(added.Label), pos[0], added.Priority, hint)
	warnUnpersisted(e, pers)
	return nil
}

func runRemove(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "remove")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("remove needs PROVIDER and TARGET (id, label or 1-based index)")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	var removed apitype.Entry
	pers, err := change(ctx, e, s, func(c *socketapi.Client) (apitype.Persistence, error) {
		res, err := c.RemoveEntry(ctx, pos[0], pos[1])
		removed = res.Removed
		return res.Persistence, err
	}, func(p *pool.Pool) error {
		v, _, err := p.Remove(pos[0], pos[1])
		removed = apitype.EntryFrom(v)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "removed %s %q from %s\n", removed.ID, printable(removed.Label), pos[0])
	warnUnpersisted(e, pers)
	return nil
}

func runReset(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "reset")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("reset needs PROVIDER and an optional TARGET")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	target := ""
	if len(pos) == 2 {
		target = pos[1]
	}
	var n int
	pers, err := change(ctx, e, s, func(c *socketapi.Client) (apitype.Persistence, error) {
		res, err := c.Reset(ctx, pos[0], target)
		n = res.Reset
		return res.Persistence, err
	}, func(p *pool.Pool) error {
		var err error
		n, _, err = p.Reset(pos[0], target)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "reset %d entr%s of %s\n", n, plural(n, "y", "ies"), pos[0])
	warnUnpersisted(e, pers)
	return nil
}

func runRepair(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "repair")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("repair needs exactly one PROVIDER")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	var n int
	pers, err := change(ctx, e, s, func(c *socketapi.Client) (apitype.Persistence, error) {
		res, err := c.Repair(ctx, pos[0])
		n = res.Repaired
		return res.Persistence, err
	}, func(p *pool.Pool) error {
		var err error
		n, err = p.Repair(pos[0])
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "gave %d row%s of %s an id of %s own\n", n, plural(n, "", "s"), pos[0], plural(n, "its", "their"))
	warnUnpersisted(e, pers)
	return nil
}

// warnUnpersisted says on stderr that a change is served but not yet on
// disk. The command still succeeds: the daemon holds the change and keeps
// retrying, and running the command again would do it twice.
func warnUnpersisted(e Env, p apitype.Persistence) {
	if !p.Persisted {
		fmt.Fprintf(e.Stderr, "credpool: warning: not yet written to the auth file: %s\n", p.PersistError)
	}
}

// change makes an admin change: through the daemon when one runs (online
// gives its answer's Persistence), else on the files themselves
// (adminUpdate), which is on disk when it returns.
func change(ctx context.Context, e Env, s config.Settings, online func(*socketapi.Client) (apitype.Persistence, error), offline func(*pool.Pool) error) (apitype.Persistence, error) {
	pers, err := online(quickClient(s))
	if !errors.Is(err, socketapi.ErrDaemonNotRunning) {
		return pers, err
	}
	return apitype.Persistence{Persisted: true}, adminUpdate(ctx, e, s, offline)
}

// adminUpdate runs op on a pool loaded as the daemon loads it, and writes
// back what op changed the way the daemon's writer does: under auth.lock,
// credpool's state file (statefile) is imported before auth.json is loaded
// and written before auth.json is, so that an offline remove leaves the
// tombstone a stale writer cannot get past. A state file that did not
// parse is set aside (and said so); one that cannot be read stops the
// command, which would otherwise write over what it holds.
func adminUpdate(ctx context.Context, e Env, s config.Settings, op func(p *pool.Pool) error) error {
	statePath := paths.State(s.AuthFile)
	_, err := store(s).Update(ctx, func(f *authfile.File) error {
		st, err := statefile.Load(statePath)
		switch {
		case errors.Is(err, statefile.ErrSetAside):
			fmt.Fprintf(e.Stderr, "credpool: warning: %v\n", err)
		case err != nil:
			return err
		}
		p := pool.New(poolConfig(s))
		p.ImportState(st.Pool)
		p.Load(f.Snapshot())
		if err := op(p); err != nil {
			return err
		}
		p.Sync(f.Snapshot())
		if p.StateDirty() {
			return statefile.Write(statePath, statefile.State{Pool: p.ExportState()})
		}
		return nil
	})
	return err
}

// readSecret reads the secret from a no-echo prompt on a terminal, else from
// stdin. Never from argv: ps shows argv to every user.
func readSecret(e Env, provider string) (string, error) {
	if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.Stderr, "Secret for %s (not echoed): ", provider)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nonEmpty(string(b))
	}
	line, err := bufio.NewReader(io.LimitReader(e.Stdin, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read secret from stdin: %w", err)
	}
	return strings.TrimSpace(line), nonEmpty(line)
}

func nonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return usagef("no secret given: pipe it on stdin (e.g. 'pass show key | credpool add openrouter') or type it at the prompt")
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
