package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

func runStatus(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "status")
	asJSON := fs.Bool("json", false, "print the pools as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("status takes at most one PROVIDER")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	views, live, err := statusViews(ctx, s, pos)
	if err != nil {
		return err
	}
	if !live {
		fmt.Fprintf(e.Stderr, "credpool status: the daemon is not running; showing %s (leases unknown)\n", s.AuthFile)
	}
	if *asJSON {
		return writeJSON(e.Stdout, map[string]any{"pools": views})
	}
	renderStatus(e.Stdout, views, time.Now())
	return nil
}

// statusViews asks the daemon, and reads auth.json itself when no daemon
// answers: status is most wanted exactly when something is wrong.
func statusViews(ctx context.Context, s config.Settings, pos []string) ([]pool.PoolView, bool, error) {
	c := quickClient(s)
	var views []pool.PoolView
	var err error
	if len(pos) == 1 {
		var v pool.PoolView
		if v, err = c.Pool(ctx, pos[0]); err == nil {
			views = []pool.PoolView{v}
		}
	} else {
		views, err = c.Pools(ctx)
	}
	if err == nil || !errors.Is(err, socketapi.ErrDaemonNotRunning) {
		return views, true, err
	}
	f, _, rerr := authfile.NewStore(s.AuthFile).Read()
	if rerr != nil {
		return nil, false, rerr
	}
	p := pool.New(poolConfig(s))
	p.Load(f.Snapshot())
	if len(pos) == 1 {
		v, verr := p.View(pos[0])
		if verr != nil {
			return nil, false, fmt.Errorf("%w: %q is not in %s", verr, pos[0], s.AuthFile)
		}
		return []pool.PoolView{v}, false, nil
	}
	return p.Views(), false, nil
}

// renderStatus prints one block per pool.
func renderStatus(w io.Writer, views []pool.PoolView, now time.Time) {
	if len(views) == 0 {
		fmt.Fprintln(w, "no pools yet: add a credential with 'credpool add PROVIDER'")
		return
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  (%s, %d of %d available", v.Provider, v.Strategy, v.Available, len(v.Entries))
		if v.Available == 0 && v.NextAvailableAt > 0 {
			fmt.Fprintf(w, ", next in %s", humanDuration(epochTime(v.NextAvailableAt).Sub(now)))
		}
		fmt.Fprintln(w, ")")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LABEL\tID\tTYPE\tSOURCE\tSTATE\tREQUESTS\tLEASES")
		for _, en := range v.Entries {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%d\n", en.Label, en.ID, en.AuthType, en.Source, entryState(en, now), en.RequestCount, en.Leases)
		}
		_ = tw.Flush()
	}
}

// entryState is the STATE column: "ok", "exhausted 429 rate_limit_exceeded,
// 41m left", "dead token_invalidated, 3h ago, pruned in 21h".
func entryState(en pool.EntryView, now time.Time) string {
	var parts []string
	switch en.Status {
	case pool.StatusDead:
		head := "dead"
		if en.LastErrorReason != "" {
			head += " " + en.LastErrorReason
		} else if en.LastErrorCode != 0 {
			head += fmt.Sprintf(" %d", en.LastErrorCode)
		}
		parts = append(parts, head)
		if en.LastStatusAt > 0 {
			parts = append(parts, humanDuration(now.Sub(epochTime(en.LastStatusAt)))+" ago")
		}
		switch {
		case en.PruneAt > 0 && epochTime(en.PruneAt).After(now):
			parts = append(parts, "pruned in "+humanDuration(epochTime(en.PruneAt).Sub(now)))
		case en.PruneAt > 0:
			parts = append(parts, "pruned on the next tick")
		}
	case pool.StatusExhausted:
		head := "exhausted"
		if en.LastErrorCode != 0 {
			head += fmt.Sprintf(" %d", en.LastErrorCode)
		}
		if en.LastErrorReason != "" {
			head += " " + en.LastErrorReason
		}
		parts = append(parts, head)
		if en.Until > 0 {
			parts = append(parts, humanDuration(epochTime(en.Until).Sub(now))+" left")
		}
	default:
		parts = append(parts, "ok")
	}
	s := strings.Join(parts, ", ")
	if en.TokenHint == "" && en.Status != pool.StatusDead && !en.Available {
		s += " (no token on disk: not handed out)"
	}
	return s
}

// humanDuration rounds to the largest useful unit: 41m, 3h, 2d, 45s.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(math.Ceil(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func epochTime(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

func formatTime(s float64) string {
	return epochTime(s).Local().Format("2006-01-02 15:04:05 MST")
}
