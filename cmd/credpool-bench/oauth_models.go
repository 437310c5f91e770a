package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gofrs/flock"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/internal/stats"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/pool"
)

// The two other parties of --oauth: the tools whose re-logins credpool
// follows, and the file model of the stampede.

// reloginWriter is one tool's way of writing its login file.
type reloginWriter struct {
	source, pool, how string
	// write puts a fresh login in the tool's file as the tool does and
	// returns its access token and when the write was complete.
	write func(b *oauthBench) (token string, done time.Time, err error)
}

var reloginWriters = []reloginWriter{
	{source: "claude_code", pool: "anthropic", how: "temp file + rename", write: writeClaudeLogin},
	{source: "codex_cli", pool: "openai", how: "truncate + rewrite in place", write: writeCodexLogin},
}

// writeClaudeLogin writes the way Claude Code does: a temp file in the same
// directory, renamed over .credentials.json.
func writeClaudeLogin(b *oauthBench) (string, time.Time, error) {
	tok := b.fake.Issue("anthropic")
	data, err := json.Marshal(map[string]any{"claudeAiOauth": map[string]any{
		"accessToken": tok.AccessToken, "refreshToken": tok.RefreshToken,
		"expiresAt": time.Now().Add(time.Hour).UnixMilli(), "scopes": []string{"user:inference"}, "subscriptionType": "max"}})
	if err != nil {
		return "", time.Time{}, err
	}
	tmp := fmt.Sprintf("%s.tmp.%d", b.claudeFile(), time.Now().UnixNano())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", time.Time{}, err
	}
	if err := os.Rename(tmp, b.claudeFile()); err != nil {
		return "", time.Time{}, err
	}
	return tok.AccessToken, time.Now(), nil
}

// writeCodexLogin writes an API-key login the way codex-rs' file storage
// did: truncate and write in place, no rename.
func writeCodexLogin(b *oauthBench) (string, time.Time, error) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	key := "sk-bench-codex-" + hex.EncodeToString(raw)
	data, err := json.Marshal(map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": key, "tokens": nil})
	if err != nil {
		return "", time.Time{}, err
	}
	f, err := os.OpenFile(b.codexFile(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", time.Time{}, err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return key, time.Now(), err
}

// relogin measures n re-logins with the tool: its entry is made DEAD by a
// terminal 401, the tool writes a new login, and the time from the
// completed write to a select that hands out the new token is taken.
func (b *oauthBench) relogin(ctx context.Context, w reloginWriter, n int) (reloginResult, error) {
	res := reloginResult{N: n}
	id := ""
	for deadline := time.Now().Add(5 * time.Second); id == ""; sleepCtx(ctx, time.Millisecond) {
		if p, err := b.c.Pool(ctx, w.pool); err == nil {
			for _, e := range p.Entries {
				if e.Source == w.source && e.Available {
					id = e.ID
				}
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("re-login %s: no entry for the tool's login", w.source)
		}
	}
	store := authfile.NewStore(b.authFile)
	var ns []int64
	for i := range n {
		rep, err := b.c.Report(ctx, w.pool, apitype.ReportRequest{CredentialID: id, StatusCode: 401, Reason: "token_invalidated"})
		if err != nil {
			return res, fmt.Errorf("re-login %s %d: %w", w.source, i, err)
		}
		if rep.Marked == nil || rep.Marked.Status != string(pool.StatusDead) {
			return res, fmt.Errorf("re-login %s %d: the report did not mark the login DEAD", w.source, i)
		}
		// The tool's re-login comes long after the 401: let the DEAD
		// reach the disk first, as --recovery does.
		if err := waitStatusOnDisk(ctx, store, w.pool, id, pool.StatusDead); err != nil {
			return res, fmt.Errorf("re-login %s %d: %w", w.source, i, err)
		}
		token, done, err := w.write(b)
		if err != nil {
			return res, fmt.Errorf("re-login %s %d: %w", w.source, i, err)
		}
		for deadline := done.Add(10 * time.Second); ; {
			sel, err := b.c.Select(ctx, w.pool, apitype.SelectRequest{})
			if err == nil && sel.Credential.AccessToken == token {
				ns = append(ns, int64(time.Since(done)))
				break
			}
			if err != nil && !errors.Is(err, pool.ErrNoneAvailable) {
				return res, fmt.Errorf("re-login %s %d: select: %w", w.source, i, err)
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("re-login %s %d: the new login was not handed out 10 s after the write", w.source, i)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	slices.Sort(ns)
	res.P50MS, res.P99MS, res.MaxMS = msOf(stats.Quantile(ns, 0.5)), msOf(stats.Quantile(ns, 0.99)), msOf(ns[len(ns)-1])
	return res, nil
}

// fileStampede is the stampede without a daemon, on a copy of auth.json of
// its own: each agent refreshes for itself the way Hermes does (lock
// auth.lock, re-read, POST only if the row still holds the refresh token
// it started with, write the new pair into the row and the singleton,
// unlock). The lock is taken as Hermes' _file_lock takes it: LOCK_NB,
// again every 50 ms while it is busy.
func (b *oauthBench) fileStampede(ctx context.Context) (stampedeResult, error) {
	res := stampedeResult{Agents: b.cfg.Clients, Generations: b.cfg.OAuth, PostsMin: -1}
	path := filepath.Join(b.dir, "file", "auth.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return res, err
	}
	r := oauth.Refresher{Overrides: b.fake.Overrides()}
	for g := range b.cfg.OAuth {
		tok := b.fake.Issue(oauthPool)
		data, err := json.MarshalIndent(map[string]any{
			"version":   1,
			"providers": map[string]any{oauthPool: map[string]any{"tokens": map[string]any{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}}},
			"credential_pool": map[string]any{oauthPool: []any{map[string]any{"id": oauthID, "label": "bench-codex", "auth_type": "oauth",
				"priority": 0, "source": "device_code", "access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}}},
		}, "", "  ")
		if err != nil {
			return res, err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return res, err
		}
		before := len(b.fake.Requests())
		took, err := storm(b.cfg.Clients, func(int) error { return hermesRefresh(ctx, r, path, tok.RefreshToken) })
		if err != nil {
			return res, fmt.Errorf("file stampede %d: %w", g, err)
		}
		res.generation(b.fake, tok.RefreshToken, before, took)
	}
	res.finish()
	return res, nil
}

// hermesLockPoll is how often Hermes tries a busy auth.lock again.
const hermesLockPoll = 50 * time.Millisecond

// hermesRefresh is one agent of the file model: it returns once it holds
// a pair other than the one with startedWith.
func hermesRefresh(ctx context.Context, r oauth.Refresher, path, startedWith string) error {
	lk := flock.New(filepath.Join(filepath.Dir(path), "auth.lock"), flock.SetPermissions(0o600))
	if ok, err := lk.TryLockContext(ctx, hermesLockPoll); err != nil || !ok {
		return fmt.Errorf("auth.lock: %w", errors.Join(err, ctx.Err()))
	}
	defer func() { _ = lk.Unlock() }()
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := authfile.Parse(raw)
	if err != nil {
		return err
	}
	s := f.Snapshot()
	row := &s.Pools[oauthPool][0]
	if row.RefreshToken != startedWith {
		return nil // a peer rotated: adopt its pair
	}
	res, err := r.Refresh(ctx, oauth.Request{Provider: oauthPool, RefreshToken: startedWith, Source: row.Source})
	if err != nil {
		return err
	}
	row.AccessToken, row.RefreshToken = res.AccessToken, res.RefreshToken
	s.Singletons[oauthPool] = pool.Singleton{Tokens: pool.Tokens{AccessToken: res.AccessToken, RefreshToken: res.RefreshToken}}
	out, err := f.Marshal()
	if err != nil {
		return err
	}
	_, err = atomicWrite(path, out)
	return err
}
