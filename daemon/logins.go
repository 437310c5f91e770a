package daemon

import (
	"context"
	"errors"
	"sync"

	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/pool"
)

// External logins: the daemon follows the login files of other agent
// tools (extlogin) and hands each login to the pool as an entry with the
// tool's source name. By default it only follows them: the tool refreshes
// its own tokens. For the tools named in refresh_external it refreshes them
// itself and writes them back into the tool's file, under the tool's lock.

type logins struct {
	d       *Daemon
	sources map[string]extlogin.Source
	mu      sync.Mutex
	// where is the pool each source's login is in now: the Codex CLI's
	// moves between openai (an API key) and openai-codex (ChatGPT).
	where map[string]string
}

func newLogins(d *Daemon) *logins {
	l := &logins{d: d, sources: map[string]extlogin.Source{}, where: map[string]string{}}
	for _, s := range d.cfg.Logins {
		l.sources[s.Name] = s
	}
	return l
}

// Run follows the sources until ctx ends.
func (l *logins) Run(ctx context.Context) error {
	if len(l.sources) == 0 {
		<-ctx.Done()
		return nil
	}
	w := &extlogin.Watcher{Sources: l.d.cfg.Logins, OnChange: l.update}
	return w.Run(ctx)
}

// update hands one source's state to the pool. A file that cannot be read
// now keeps the login the pool has (a tool mid-write is not a logout).
func (l *logins) update(u extlogin.Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := l.where[u.Source]
	var login pool.Login
	switch {
	case u.Err == nil:
		login = poolLogin(u.Login)
	case errors.Is(u.Err, extlogin.ErrNotLoggedIn):
		provider := l.sources[u.Source].Provider
		if prev != "" {
			provider = prev
		}
		login = pool.Login{Provider: provider, Source: u.Source, Broken: "logged out"}
	default:
		l.d.log.Debug("a login file cannot be read now; keeping the last login", "source", u.Source, "err", u.Err)
		return
	}
	attach := []pool.Login{login}
	if prev != "" && prev != login.Provider {
		// The tool's login moved to another pool: the entry it left
		// holds a login the tool no longer has.
		attach = append(attach, pool.Login{Provider: prev, Source: u.Source, Broken: "the tool's login is in the " + login.Provider + " pool now"})
	}
	l.where[u.Source] = login.Provider
	var changes []pool.Change
	l.d.mu.Lock()
	for _, x := range attach {
		ch, err := l.d.pool.AttachLogin(x)
		if err != nil {
			l.d.log.Warn("a login of another tool cannot be followed", "source", u.Source, "err", err)
		}
		changes = append(changes, ch...)
	}
	l.d.wakeLocked()
	l.d.mu.Unlock()
	l.d.apply(changes)
	l.d.kickIO()
	// The login may be due for a refresh already (the tool has not run
	// for a while): the refresher looks at once, not at its next scan.
	l.d.refresher.now()
}

func poolLogin(x extlogin.Login) pool.Login {
	return pool.Login{Provider: x.Provider, Source: x.Source, AuthType: x.AuthType, AccessToken: x.AccessToken,
		RefreshToken: x.RefreshToken, ExpiresAt: x.ExpiresAt, Label: x.Label, Broken: x.Broken}
}

// exchangeExternal refreshes another tool's login (only for the tools the
// user asked credpool to refresh), holding the tool's own lock across
// re-read, POST and write-back, as the internal refresh holds auth.lock: a
// tool that refreshes meanwhile waits, then finds the new pair. The
// watcher then sees the file change.
func (rf *refresher) exchangeExternal(ctx context.Context, c pool.RefreshCandidate) string {
	key := c.Provider + "/" + c.ID
	src, ok := rf.d.logins.sources[c.Source]
	if !ok {
		return outcomeFailed
	}
	cur, err := extlogin.Read(src)
	if err != nil {
		// Mid-write or unreadable: nothing to refresh from, and no file
		// to write the new pair into. Look again soon.
		rf.backoff(key, busyRetryMax, false)
		return outcomeLockBusy
	}
	var res oauth.Result
	var postErr error
	got, err := (extlogin.Writer{Now: rf.d.cfg.Pool.Now}).Update(ctx, src, cur, func(ctx context.Context) (extlogin.Login, error) {
		if cur.RefreshToken != c.Tokens.RefreshToken {
			return extlogin.Login{}, extlogin.ErrChanged // the pool is behind the file
		}
		if res, postErr = rf.post(ctx, c); postErr != nil {
			return extlogin.Login{}, postErr
		}
		// The pool takes the new pair first: if the write-back fails the
		// pair is still served (the old one is spent).
		rf.d.mu.Lock()
		changes, err := rf.d.pool.Refreshed(c.Provider, c.ID, c.Tokens, pool.Tokens{AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}, res.ExpiresAt)
		rf.d.mu.Unlock()
		if err == nil {
			rf.d.apply(changes)
		}
		to := cur
		to.AccessToken, to.RefreshToken, to.ExpiresAt = res.AccessToken, res.RefreshToken, res.ExpiresAt
		if res.IDToken != "" {
			to.IDToken = res.IDToken
		}
		return to, nil
	})
	switch {
	case postErr != nil:
		return rf.settle(c, postErr)
	case errors.Is(err, extlogin.ErrChanged):
		// The tool refreshed (or the user logged in again) first: take
		// its login as the watcher would.
		if got.AccessToken == "" {
			got, _ = extlogin.Read(src)
		}
		rf.d.logins.update(extlogin.Update{Source: c.Source, Login: got})
		return outcomeAdopted
	case err != nil && res.AccessToken == "":
		rf.backoff(key, busyRetryMax, false)
		return outcomeLockBusy // the tool's lock, or its file, not to be had now
	case err != nil:
		rf.d.log.Warn("refreshed another tool's login but could not write it back; serving it from memory", "source", c.Source, "err", err)
	}
	rf.d.kickIO()
	return outcomeRefreshed
}
