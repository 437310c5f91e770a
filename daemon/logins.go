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
	last    map[string]extlogin.Login // the login each source holds now
}

func newLogins(d *Daemon) *logins {
	l := &logins{d: d, sources: map[string]extlogin.Source{}, last: map[string]extlogin.Login{}}
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
	var login pool.Login
	switch {
	case u.Err == nil:
		login = poolLogin(u.Login)
	case errors.Is(u.Err, extlogin.ErrNotLoggedIn):
		src := l.sources[u.Source]
		login = pool.Login{Provider: src.Provider, Source: u.Source, Broken: "logged out"}
	default:
		l.d.log.Debug("a login file cannot be read now; keeping the last login", "source", u.Source, "err", u.Err)
		return
	}
	l.mu.Lock()
	l.last[u.Source] = u.Login
	l.mu.Unlock()
	l.d.mu.Lock()
	changes, err := l.d.pool.AttachLogin(login)
	l.d.wakeLocked()
	l.d.mu.Unlock()
	if err != nil {
		l.d.log.Warn("a login of another tool cannot be followed", "source", u.Source, "err", err)
		return
	}
	l.d.apply(changes)
	l.d.kickIO()
}

func poolLogin(x extlogin.Login) pool.Login {
	return pool.Login{Provider: x.Provider, Source: x.Source, AuthType: x.AuthType, AccessToken: x.AccessToken,
		RefreshToken: x.RefreshToken, ExpiresAt: x.ExpiresAt, Label: x.Label, Broken: x.Broken}
}

// exchangeExternal refreshes another tool's login (only for the tools the
// user asked credpool to refresh) and writes the new pair into the tool's
// file under the tool's lock; the watcher then sees the file change.
func (rf *refresher) exchangeExternal(ctx context.Context, c pool.RefreshCandidate) string {
	src, ok := rf.d.logins.sources[c.Source]
	if !ok {
		return outcomeFailed
	}
	// The tool may have refreshed meanwhile: read its file first.
	cur, err := extlogin.Read(src)
	if err == nil && cur.RefreshToken != c.Tokens.RefreshToken && cur.AccessToken != "" {
		rf.d.logins.update(extlogin.Update{Source: c.Source, Login: cur})
		return outcomeAdopted
	}
	res, err := rf.oauth.Refresh(ctx, oauth.Request{Provider: c.Provider, RefreshToken: c.Tokens.RefreshToken, Source: c.Source})
	if err != nil {
		var oe *oauth.Error
		f := pool.RefreshFailure{Reason: err.Error()}
		if errors.As(err, &oe) {
			f = pool.RefreshFailure{Terminal: oe.Kind == oauth.Terminal, Status: oe.Status, Reason: oe.Code}
		}
		rf.backoff(c.Provider+"/"+c.ID, refreshRetryMax, true)
		rf.failed(c, f)
		if f.Terminal {
			return outcomeTerminal
		}
		return outcomeFailed
	}
	to := cur
	to.AccessToken, to.RefreshToken, to.ExpiresAt = res.AccessToken, res.RefreshToken, res.ExpiresAt
	if err := (extlogin.Writer{Now: rf.d.cfg.Pool.Now}).WriteBack(ctx, src, cur, to); err != nil {
		rf.d.log.Warn("refreshed another tool's login but could not write it back; serving it from memory", "source", c.Source, "err", err)
	}
	rf.d.mu.Lock()
	changes, err := rf.d.pool.Refreshed(c.Provider, c.ID, c.Tokens, pool.Tokens{AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}, res.ExpiresAt)
	rf.d.mu.Unlock()
	if err == nil {
		rf.d.apply(changes)
	}
	rf.d.kickIO()
	return outcomeRefreshed
}

// claudeCredentials is Claude Code's credentials file among the sources.
func claudeCredentials(cfg Config) string {
	for _, s := range cfg.Logins {
		if s.Name == extlogin.SourceClaude {
			return s.Path
		}
	}
	for _, s := range extlogin.Sources(func(string) string { return "" }) {
		if s.Name == extlogin.SourceClaude {
			return s.Path
		}
	}
	return ""
}
