package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/config"
	"github.com/credpool/credpool/epoch"
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
	pools, live, err := statusPools(ctx, s, pos)
	if err != nil {
		return err
	}
	if !live {
		fmt.Fprintf(e.Stderr, "credpool status: the daemon is not running; showing %s (leases unknown)\n", s.AuthFile)
	}
	if *asJSON {
		return writeJSON(e.Stdout, apitype.Pools{Pools: pools})
	}
	renderStatus(e.Stdout, pools, time.Now())
	return nil
}

// statusPools asks the daemon, and reads auth.json itself when no daemon
// answers: status is most wanted exactly when something is wrong. Both
// give the same wire types, so --json says the same either way.
func statusPools(ctx context.Context, s config.Settings, pos []string) ([]apitype.Pool, bool, error) {
	c := quickClient(s)
	var pools []apitype.Pool
	var err error
	if len(pos) == 1 {
		var v apitype.Pool
		if v, err = c.Pool(ctx, pos[0]); err == nil {
			pools = []apitype.Pool{v}
		}
	} else {
		pools, err = c.Pools(ctx)
	}
	if err == nil || !errors.Is(err, socketapi.ErrDaemonNotRunning) {
		return pools, true, err
	}
	f, _, rerr := store(s).Read()
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
		return []apitype.Pool{apitype.PoolFrom(v)}, false, nil
	}
	return apitype.PoolsFrom(p.Views()).Pools, false, nil
}

// renderStatus prints one block per pool.
func renderStatus(w io.Writer, pools []apitype.Pool, now time.Time) {
	if len(pools) == 0 {
		fmt.Fprintln(w, "no pools yet: add a credential with 'credpool add PROVIDER'")
		return
	}
	for i, v := range pools {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  (%s, %d of %d available", printable(v.Provider), v.Strategy, v.Available, len(v.Entries))
		if v.Available == 0 && v.NextAvailableAt != nil {
			fmt.Fprintf(w, ", next in %s", humanSeconds(epoch.Until(*v.NextAvailableAt, now)))
		}
		fmt.Fprintln(w, ")")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  LABEL\tID\tTYPE\tSOURCE\tSTATE\tREQUESTS\tLEASES")
		for _, en := range v.Entries {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%d\n", printable(en.Label), printable(en.ID), printable(en.AuthType),
				printable(en.Source), entryState(en, now), en.RequestCount, en.Leases)
		}
		_ = tw.Flush()
		for _, pr := range v.Problems {
			fmt.Fprintf(w, "  ! row %d: %s\n", pr.Index, printable(pr.What))
		}
	}
}

// entryState is the STATE column: "ok", "exhausted 429 rate_limit_exceeded,
// 41m left", "dead token_invalidated, 3h ago, pruned in 21h", with model
// cooldowns, the quota the provider announced and unreadable fields after
// it.
func entryState(en apitype.Entry, now time.Time) string {
	var parts []string
	switch en.Status {
	case string(pool.StatusDead):
		head := "dead"
		if en.LastErrorReason != nil {
			head += " " + printable(*en.LastErrorReason)
		} else if en.LastErrorCode != nil {
			head += " " + strconv.Itoa(*en.LastErrorCode)
		}
		parts = append(parts, head)
		if en.LastStatusAt != nil {
			parts = append(parts, ago(*en.LastStatusAt, now))
		}
		switch {
		case en.PruneAt != nil && epoch.Until(*en.PruneAt, now) > 0:
			parts = append(parts, "pruned in "+humanSeconds(epoch.Until(*en.PruneAt, now)))
		case en.PruneAt != nil:
			parts = append(parts, "pruned on the next tick")
		}
	case string(pool.StatusExhausted):
		head := "exhausted"
		if en.LastErrorCode != nil {
			head += " " + strconv.Itoa(*en.LastErrorCode)
		}
		if en.LastErrorReason != nil {
			head += " " + printable(*en.LastErrorReason)
		}
		parts = append(parts, head)
		if en.Until != nil {
			parts = append(parts, humanSeconds(epoch.Until(*en.Until, now))+" left")
		}
	default:
		parts = append(parts, "ok")
	}
	models := make([]string, 0, len(en.ModelCooldowns))
	for m := range en.ModelCooldowns {
		models = append(models, m)
	}
	slices.Sort(models)
	for _, m := range models {
		parts = append(parts, fmt.Sprintf("%s benched %s", printable(m), humanSeconds(epoch.Until(en.ModelCooldowns[m], now))))
	}
	parts = append(parts, oauthState(en, now)...)
	if q := quotaState(en, now); q != "" {
		parts = append(parts, q)
	}
	s := strings.Join(parts, ", ")
	switch {
	case len(en.Unreadable) > 0:
		s += fmt.Sprintf(" (unreadable %s in the file: not handed out)", printable(strings.Join(en.Unreadable, ", ")))
	case en.TokenHint == nil && en.Status != string(pool.StatusDead) && !en.Available && !en.External:
		s += " (no token on disk: not handed out)"
	}
	return s
}

// quotaState is what the provider's rate-limit headers said, as the pool
// decided it: "out of budget until reset in 4m: openai/tokens" while a
// window blocks, else the window that binds: "openai/requests 12% left,
// resets in 4m". "" when no live window tells.
func quotaState(en apitype.Entry, now time.Time) string {
	if en.QuotaUntil != nil {
		var names []string
		for _, w := range en.Quota {
			if w.Blocking {
				names = append(names, windowName(w))
			}
		}
		return fmt.Sprintf("out of budget until reset in %s: %s", humanSeconds(epoch.Until(*en.QuotaUntil, now)), strings.Join(names, ", "))
	}
	for _, w := range en.Quota {
		if w.Tightest && w.Left != nil {
			// The slack keeps 0.29 (28.999… in floating point) at 29 %.
			pct := int(math.Floor(*w.Left*100 + 1e-9))
			return fmt.Sprintf("%s %d%% left, resets in %s", windowName(w), pct, humanSeconds(epoch.Until(w.ResetAt, now)))
		}
	}
	return ""
}

// windowName is a budget window's key, with the model family it applies to.
func windowName(w apitype.QuotaWindow) string {
	if w.Model != nil {
		return printable(w.Key) + " (" + printable(*w.Model) + ")"
	}
	return printable(w.Key)
}

// oauthState is the OAuth part of the STATE column: a broken login, a
// refresh in flight or the last one's failure, and the access token's
// expiry ("expires in 41m", "expired 3m ago").
func oauthState(en apitype.Entry, now time.Time) []string {
	var parts []string
	if en.LoginBroken != nil {
		parts = append(parts, "login broken: "+printable(*en.LoginBroken))
	}
	switch {
	case en.Refreshing:
		parts = append(parts, "refreshing")
	case en.RefreshError != nil:
		parts = append(parts, "last refresh failed: "+printable(*en.RefreshError))
	}
	if en.ExpiresAt != nil && en.Status != string(pool.StatusDead) {
		if left := epoch.Until(*en.ExpiresAt, now); left > 0 {
			parts = append(parts, "expires in "+humanSeconds(left))
		} else {
			parts = append(parts, "expired "+humanSeconds(-left)+" ago")
		}
	}
	return parts
}

// ago says how long ago an epoch time was, or that it lies in the future
// (a writer with a skewed clock).
func ago(at float64, now time.Time) string {
	d := -epoch.Until(at, now)
	if d < -1 {
		return "stamped " + humanSeconds(-d) + " in the future"
	}
	return humanSeconds(d) + " ago"
}

// humanSeconds rounds to the largest useful unit: 41m, 3h, 2d, 45s, 8y. It
// works on float seconds, so a cooldown to the year 9999 is not an
// overflow.
func humanSeconds(sec float64) string {
	if sec < 0 || math.IsNaN(sec) {
		sec = 0
	}
	switch {
	case sec < 60:
		return fmt.Sprintf("%ds", int(math.Ceil(sec)))
	case sec < 3600:
		return fmt.Sprintf("%dm", int(sec/60))
	case sec < 48*3600:
		return fmt.Sprintf("%dh", int(sec/3600))
	case sec < 2*365*86400:
		return fmt.Sprintf("%dd", int(sec/86400))
	default:
		return fmt.Sprintf("%dy", int(sec/(365*86400)))
	}
}

func formatTime(s float64) string {
	return epoch.Time(s).Local().Format("2006-01-02 15:04:05 MST")
}

// printable shows text from the file or a provider on a terminal safely:
// control and bidirectional-override characters are escaped (another
// writer's label must not rewrite the line around it), and it is cut to
// 80 characters.
func printable(s string) string {
	if len(s) > 0 && strings.IndexFunc(s, unsafeRune) < 0 && utf8.RuneCountInString(s) <= 80 {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 80 {
			b.WriteString("…")
			break
		}
		n++
		if unsafeRune(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool { return r == utf8.RuneError || pool.Unprintable(r) }
