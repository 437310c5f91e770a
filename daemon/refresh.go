package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/credpool/credpool/extlogin"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/tokeninfo"
)

// The refresher owns the OAuth lifecycle: exactly one refresh per token
// generation, whoever asks. Inside the daemon a refresh is single-flight
// per refresh token; across processes it holds auth.lock around re-read,
// POST and write-back, as Hermes does, so a Hermes process waiting for the
// lock finds the rotated pair and sends nothing. Before it POSTs it re-reads
// the row (and the singleton of a device_code entry): if a peer already
// rotated the pair, it adopts that one instead.

// Refresh timing.
const (
	refreshScanMax = 15 * time.Second // rescan at least this often
	// refreshRetryBase is the first backoff after a transient failure (a
	// 5xx, a timeout), doubling to refreshRetryMax. It is short because
	// the access token is still valid and the horizon is 120 s: a first
	// retry after 30 s left three tries before expiry, and a fourth only
	// 90 s after the token had expired.
	refreshRetryBase = time.Second
	refreshRetryMax  = 10 * time.Minute
	// refreshLimitedWait is how long a 429 without Retry-After benches
	// the refresh: the endpoint asked us to slow down.
	refreshLimitedWait = 30 * time.Second
	// refreshWaitDefault is how long a select with no wait_ms waits for a
	// refresh in flight when nothing else is available.
	refreshWaitDefault = 5 * time.Second
)

type refresher struct {
	d       *Daemon
	oauth   oauth.Refresher
	horizon time.Duration
	// external names the other tools' logins credpool refreshes itself;
	// the others are left to their owner.
	external map[string]bool

	kick chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	flights map[string]bool        // refresh-token fingerprints in flight
	retry   map[string]refreshWait // entry key → not before, and the last backoff
}

type refreshWait struct {
	at      time.Time
	backoff time.Duration
}

func newRefresher(d *Daemon) *refresher {
	ext := map[string]bool{}
	for _, s := range d.cfg.RefreshExternal {
		ext[s] = true
	}
	return &refresher{d: d, horizon: d.cfg.RefreshHorizon, external: ext,
		oauth: oauth.Refresher{Overrides: d.cfg.TokenURLs, HTTPClient: d.cfg.TokenClient, Now: d.cfg.Pool.Now},
		kick:  make(chan struct{}, 1), flights: map[string]bool{}, retry: map[string]refreshWait{}}
}

// now asks the refresher to look at the candidates again (a 401 asked for
// a refresh).
func (rf *refresher) now() {
	select {
	case rf.kick <- struct{}{}:
	default:
	}
}

// Run refreshes what is due until ctx ends, then waits for refreshes in
// flight (their requests end with ctx).
func (rf *refresher) Run(ctx context.Context) error {
	defer rf.wg.Wait()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-rf.kick:
		}
		t.Reset(rf.scan(ctx))
	}
}

// scan starts the refreshes that are due and says when to look again.
func (rf *refresher) scan(ctx context.Context) time.Duration {
	rf.d.mu.Lock()
	cands := rf.d.pool.RefreshCandidates()
	rf.d.mu.Unlock()
	now := rf.d.cfg.Pool.Now()
	next := refreshScanMax
	for _, c := range cands {
		if !oauth.Supported(c.Provider) || (c.External && !rf.external[c.Source]) {
			continue
		}
		key := c.Provider + "/" + c.ID
		rf.mu.Lock()
		wait, backing := rf.retry[key]
		inFlight := rf.flights[tokeninfo.Fingerprint(c.Tokens.RefreshToken)]
		rf.mu.Unlock()
		switch {
		case inFlight:
			continue
		case backing && now.Before(wait.at):
			next = min(next, wait.at.Sub(now))
			continue
		case !c.Wanted && !oauth.Due(c.Provider, c.ExpiresAt, now, rf.horizon):
			if c.ExpiresAt > 0 {
				// Look again when it is due; Due has the exact rule, so
				// check a little early and often enough.
				left := time.Duration((c.ExpiresAt-float64(now.Unix()))*float64(time.Second)) - rf.horizon
				next = min(next, max(left/2, time.Second))
			}
			continue
		}
		rf.mu.Lock()
		rf.flights[tokeninfo.Fingerprint(c.Tokens.RefreshToken)] = true
		rf.mu.Unlock()
		rf.wg.Add(1)
		go func() {
			defer rf.wg.Done()
			rf.refresh(ctx, c)
		}()
	}
	return next
}

// refresh makes one refresh of c and records how it went.
func (rf *refresher) refresh(ctx context.Context, c pool.RefreshCandidate) {
	fp := tokeninfo.Fingerprint(c.Tokens.RefreshToken)
	defer func() {
		rf.mu.Lock()
		delete(rf.flights, fp)
		rf.mu.Unlock()
		rf.d.mu.Lock()
		// However it ended (refreshed, failed, a peer's pair adopted, the
		// lock busy), it is not in flight any more.
		rf.d.pool.RefreshEnded(c.Provider, c.ID)
		rf.d.wakeLocked()
		rf.d.mu.Unlock()
		rf.d.kickIO()
		// Plan again: a failure has just set when to retry, and the scan
		// that started this refresh skipped it as in flight.
		rf.now()
	}()
	rf.d.mu.Lock()
	rf.d.pool.RefreshStarted(c.Provider, c.ID)
	rf.d.mu.Unlock()
	rf.d.stats.refresh(c.Provider, rf.exchange(ctx, c))
}

// Outcomes, for the metrics.
const (
	outcomeRefreshed = "refreshed"
	outcomeAdopted   = "adopted" // a peer had rotated: no POST
	outcomeTerminal  = "dead"
	outcomeLimited   = "rate_limited"
	outcomeFailed    = "failed"
	outcomeLockBusy  = "lock_busy"
)

func (rf *refresher) exchange(ctx context.Context, c pool.RefreshCandidate) string {
	key := c.Provider + "/" + c.ID
	if c.External {
		return rf.exchangeExternal(ctx, c)
	}
	unlock, err := rf.d.store.Lock(ctx)
	if err != nil {
		// A busy lock never benches an entry: try again soon.
		rf.backoff(key, busyRetryMax, false)
		return outcomeLockBusy
	}
	defer func() { _ = unlock() }()
	if rf.adoptPeer(c) {
		return outcomeAdopted
	}
	res, err := rf.post(ctx, c)
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Kind == oauth.Terminal && rf.adoptPeer(c) {
			return outcomeAdopted // a peer rotated while we asked
		}
		return rf.settle(c, err)
	}
	rf.d.mu.Lock()
	changes, err := rf.d.pool.Refreshed(c.Provider, c.ID, c.Tokens, pool.Tokens{AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}, res.ExpiresAt)
	rf.d.mu.Unlock()
	if err != nil {
		// The entry is gone or holds other tokens now; the new pair is
		// not ours to keep.
		rf.d.log.Warn("refreshed tokens of an entry that changed meanwhile; dropped", "provider", c.Provider, "id", c.ID, "err", err)
		return outcomeFailed
	}
	rf.d.apply(changes)
	// Written while we still hold auth.lock: the old pair is spent, so
	// the new one must reach the file before anyone else reads it. If the
	// write fails the pool keeps the new pair (served, and retried by the
	// io loop).
	if err := rf.d.writeHeld(); err != nil {
		rf.d.log.Error("refreshed tokens could not be written; serving them from memory and retrying", "provider", c.Provider, "id", c.ID, "err", err)
	}
	return outcomeRefreshed
}

// post sends c's refresh token to its token endpoint, unless Hermes' ledger
// says it is spent (then c is DEAD: a replay would revoke the session), and
// records in the ledger the token it spends.
func (rf *refresher) post(ctx context.Context, c pool.RefreshCandidate) (oauth.Result, error) {
	if rf.spentBefore(c) {
		return oauth.Result{}, errSpent
	}
	res, err := rf.oauth.Refresh(ctx, oauth.Request{Provider: c.Provider, RefreshToken: c.Tokens.RefreshToken,
		PortalBaseURL: c.Extra["portal_base_url"], Source: c.Source})
	if err != nil {
		return res, err
	}
	rf.spend(c)
	rf.mu.Lock()
	delete(rf.retry, c.Provider+"/"+c.ID)
	rf.mu.Unlock()
	return res, nil
}

// errSpent: Hermes' ledger lists the refresh token; spentBefore has made
// the entry DEAD already.
var errSpent = errors.New("refresh token already spent")

// settle records a failed refresh of c (the one rule for auth.json's
// logins and other tools' alike): a terminal answer makes it DEAD; a 429
// waits its Retry-After (refreshLimitedWait without one); anything else
// backs off from refreshRetryBase, doubling. It returns the outcome for
// the metrics.
func (rf *refresher) settle(c pool.RefreshCandidate, err error) string {
	key := c.Provider + "/" + c.ID
	if errors.Is(err, errSpent) {
		return outcomeTerminal
	}
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		rf.backoff(key, refreshRetryMax, true)
		rf.failed(c, pool.RefreshFailure{Reason: "cannot refresh: " + err.Error()})
		return outcomeFailed
	}
	f := pool.RefreshFailure{Terminal: oe.Kind == oauth.Terminal, Status: oe.Status, Reason: oe.Code}
	if f.Reason == "" {
		f.Reason = oe.Kind.String()
	}
	switch oe.Kind {
	case oauth.Terminal:
		rf.failed(c, f)
		return outcomeTerminal
	case oauth.RateLimited:
		wait := refreshLimitedWait
		if oe.RetryAfter > 0 { // seconds to wait
			wait = max(time.Duration(oe.RetryAfter*float64(time.Second)), time.Second)
		}
		rf.backoffFor(key, wait)
		rf.failed(c, f)
		return outcomeLimited
	}
	rf.backoff(key, refreshRetryMax, true)
	rf.failed(c, f)
	return outcomeFailed
}

// adoptPeer re-reads the file (under auth.lock) and merges it, as a
// reload would, then reports whether c's pair is spent: the pool holds
// another pair for the entry now, because a peer rotated it (in the row or
// in the singleton a device_code entry follows) or because a reload merged
// that rotation before the lock was ours. Then no POST is needed: c's
// refresh token is spent, and sending it would earn refresh_token_reused.
func (rf *refresher) adoptPeer(c pool.RefreshCandidate) bool {
	// A file that is not there is not an empty pool: merging it would
	// drop every entry (the io loop waits for it to come back).
	if f, v, err := rf.d.store.Read(); err == nil && v.Exists() {
		rf.d.mu.Lock()
		changes := rf.d.pool.Load(f.Snapshot())
		if len(changes) > 0 {
			rf.d.wakeLocked()
		}
		rf.d.mu.Unlock()
		rf.d.apply(changes)
	}
	rf.d.mu.Lock()
	defer rf.d.mu.Unlock()
	cur, _ := rf.d.pool.Holds(c.Provider, c.ID, c.Tokens)
	return !cur
}

// spentBefore reports whether Hermes' ledger lists c's refresh token as
// spent; then c is DEAD, and nothing is sent (a replay would revoke the
// whole session).
func (rf *refresher) spentBefore(c pool.RefreshCandidate) bool {
	ledger := rf.ledger(c)
	if ledger == nil {
		return false
	}
	if spent, err := ledger.Contains(c.Tokens.RefreshToken); err != nil || !spent {
		return false
	}
	rf.failed(c, pool.RefreshFailure{Terminal: true, Reason: "refresh_token_reused"})
	return true
}

// spend records in Hermes' ledger that a refresh spent c's refresh token.
func (rf *refresher) spend(c pool.RefreshCandidate) {
	if ledger := rf.ledger(c); ledger != nil {
		if err := ledger.Add(c.Tokens.RefreshToken); err != nil {
			rf.d.log.Warn("could not record a spent refresh token in Hermes' ledger", "provider", c.Provider, "id", c.ID, "err", err)
		}
	}
}

// ledger is Hermes' record of spent Anthropic refresh tokens for c's
// credentials file, nil for other providers.
func (rf *refresher) ledger(c pool.RefreshCandidate) *oauth.SpentLedger {
	if c.Provider != oauth.Anthropic {
		return nil
	}
	file := paths.HermesAnthropicOAuth(rf.d.cfg.AuthFile)
	if c.Source == extlogin.SourceClaude {
		if file = rf.d.cfg.ClaudeCredentials; file == "" {
			return nil // no Claude Code home to find Hermes' ledger in
		}
	}
	return rf.d.ledgers.of(oauth.SpentLedgerPath(file))
}

// failed records a failed refresh and writes what it changed (a DEAD).
func (rf *refresher) failed(c pool.RefreshCandidate, f pool.RefreshFailure) {
	rf.d.mu.Lock()
	changes := rf.d.pool.RefreshFailed(c.Provider, c.ID, c.Tokens, f)
	rf.d.mu.Unlock()
	rf.d.apply(changes)
	if f.Terminal && !c.External {
		if err := rf.d.writeHeld(); err != nil {
			rf.d.log.Warn("a dead refresh could not be written yet; retrying", "provider", c.Provider, "id", c.ID, "err", err)
		}
	}
}

// backoff doubles an entry's wait before its next attempt, up to limit
// (grow false: a short fixed wait).
func (rf *refresher) backoff(key string, limit time.Duration, grow bool) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	w := rf.retry[key]
	switch {
	case !grow:
		w.backoff = limit
	case w.backoff == 0:
		w.backoff = refreshRetryBase
	default:
		w.backoff = min(w.backoff*2, limit)
	}
	w.at = rf.d.cfg.Pool.Now().Add(w.backoff)
	rf.retry[key] = w
}

func (rf *refresher) backoffFor(key string, wait time.Duration) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rf.retry[key] = refreshWait{at: rf.d.cfg.Pool.Now().Add(wait), backoff: wait}
}

// ledgers hands out one SpentLedger per path: a ledger serialises its own
// callers, so two values for one file would not.
type ledgers struct {
	mu sync.Mutex
	by map[string]*oauth.SpentLedger
}

func (l *ledgers) of(path string) *oauth.SpentLedger {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string]*oauth.SpentLedger{}
	}
	if x := l.by[path]; x != nil {
		return x
	}
	x := &oauth.SpentLedger{Path: path}
	l.by[path] = x
	return x
}
