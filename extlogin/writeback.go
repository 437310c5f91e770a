package extlogin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/credpool/credpool/internal/atomicfile"
)

// Write-back sentinels.
var (
	// ErrChanged: the file no longer holds the login that was refreshed
	// (the tool refreshed or re-logged in meanwhile). Nothing was written;
	// read the file again and adopt what it holds.
	ErrChanged = errors.New("the file no longer holds the login that was refreshed")
	// ErrLocked: the tool's lock stayed held for the whole LockTimeout.
	ErrLocked = errors.New("the tool's lock is held")
)

// DefaultLockTimeout is how long WriteBack waits for a tool's lock.
const DefaultLockTimeout = 10 * time.Second

// Writer writes refreshed tokens back into a tool's credential file, for a
// user who opted in. The zero Writer is ready to use.
type Writer struct {
	// Now stamps Codex's last_refresh and ages Qwen's lock; nil means
	// time.Now.
	Now func() time.Time
	// LockTimeout is how long to wait for the tool's lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

func (w Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// WriteBack replaces the tokens of from (the login credpool refreshed, as
// it was read) with those of to (the refreshed one) in src's file:
//
//   - under the tool's own lock: Claude Code's .credentials.lock (flock),
//     Qwen Code's oauth_creds.lock (created with O_EXCL, removed after; one
//     older than Qwen's 10 s is stale and broken), the Codex CLI's
//     auth.lock and auth.json.lock (flock, in that order, as codex 0.171
//     takes them; older Codex CLIs take no lock, so a write racing one of
//     them is settled by the re-read below only up to the rename). Gemini
//     CLI has no lock: the re-read is all the guard there is;
//   - after re-reading the file: a file that does not parse, is missing or
//     is no regular file is never written over, and one whose tokens are no
//     longer from's is ErrChanged;
//   - changing only the access and refresh tokens (a to without a refresh
//     token keeps the file's), the ID token and account when to has them,
//     and the expiry (Codex: last_refresh, from Now): those values are
//     replaced where they stand and every other byte of the file is kept
//     as the tool wrote it (a field the file lacks is added after the last
//     member of its object, laid out like it);
//   - atomically: a temp file in the target's directory, 0600, fsync,
//     rename, fsync of the directory. A symlinked file keeps its link (the
//     user made it); the regular file it points to is replaced.
func (w Writer) WriteBack(ctx context.Context, src Source, from, to Login) error {
	if err := checkWritable(src, to); err != nil {
		return err
	}
	return w.locked(ctx, src, func() error {
		cur, data, _, err := load(src)
		if err != nil {
			return fmt.Errorf("%w; nothing written back", err)
		}
		if cur.AccessToken == to.AccessToken && (to.RefreshToken == "" || cur.RefreshToken == to.RefreshToken) {
			return nil // already there
		}
		if cur.Broken != "" || cur.AccessToken != from.AccessToken || cur.RefreshToken != from.RefreshToken || cur.Provider != to.Provider {
			return fmt.Errorf("extlogin: write back %s: %w", src.Name, ErrChanged)
		}
		return w.write(src, data, to)
	})
}

// Update is WriteBack for a caller whose new tokens come from a refresh of
// the file's: under the tool's lock it re-reads the file and asks refresh
// for the new login only if the file still holds from's tokens (so the
// token POST happens while the lock is held, and the tool, waiting for it,
// finds the rotated pair instead of spending the same refresh token), then
// writes it back as WriteBack does. If the file holds another login now,
// refresh is not called: Update returns that login and ErrChanged (the
// tool rotated it first; adopt it). An error of refresh is returned as it
// is, and nothing is written.
func (w Writer) Update(ctx context.Context, src Source, from Login, refresh func(ctx context.Context) (Login, error)) (Login, error) {
	var got Login
	err := w.locked(ctx, src, func() error {
		cur, data, _, err := load(src)
		if err != nil {
			return fmt.Errorf("%w; nothing written back", err)
		}
		if cur.Broken != "" || cur.AccessToken != from.AccessToken || cur.RefreshToken != from.RefreshToken || cur.Provider != from.Provider {
			got = cur
			return fmt.Errorf("extlogin: write back %s: %w", src.Name, ErrChanged)
		}
		to, err := refresh(ctx)
		if err != nil {
			return err
		}
		if err := checkWritable(src, to); err != nil {
			return err
		}
		got = to
		return w.write(src, data, to)
	})
	return got, err
}

// locked runs fn under src's own lock (see WriteBack).
func (w Writer) locked(ctx context.Context, src Source, fn func() error) error {
	timeout := orDefault(w.LockTimeout, DefaultLockTimeout)
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	unlock, err := lockSource(lctx, src, w.now)
	if err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return fmt.Errorf("extlogin: write back %s: %w after %s", src.Name, ErrLocked, timeout)
		}
		return fmt.Errorf("extlogin: write back %s: lock: %w", src.Name, err)
	}
	defer unlock()
	return fn()
}

// write puts to's tokens into data (src's file as read) and replaces the
// file with it.
func (w Writer) write(src Source, data []byte, to Login) error {
	out, err := patch(src.kind, data, to, w.now())
	if err != nil {
		return fmt.Errorf("extlogin: write back %s %s: %w", src.Name, src.Path, err)
	}
	if err := writeAtomic(src.Path, out); err != nil {
		return fmt.Errorf("extlogin: write back %s: %w", src.Name, err)
	}
	return nil
}

// checkWritable refuses a login that must not reach a tool's file: no
// secret is ever written empty, nor over a file of another source.
func checkWritable(src Source, to Login) error {
	switch {
	case src.kind == kindNone || int(src.kind) >= len(layouts):
		return fmt.Errorf("extlogin: write back: unknown source %q", src.Name)
	case to.Source != src.Name:
		return fmt.Errorf("extlogin: write back %s: the login is from source %q", src.Name, to.Source)
	case to.AuthType != AuthOAuth:
		return fmt.Errorf("extlogin: write back %s: only OAuth tokens are written back, not %q", src.Name, to.AuthType)
	case to.Broken != "" || to.AccessToken == "":
		return fmt.Errorf("extlogin: write back %s: the login has no access token", src.Name)
	case layouts[src.kind].expiryMS != "" && !(to.ExpiresAt > 0 && to.ExpiresAt < math.MaxInt64/1000):
		// An expiry of 0 is what Claude Code's blanked-token loser writes.
		return fmt.Errorf("extlogin: write back %s: the login has no expiry", src.Name)
	}
	return nil
}

// patch rewrites data (which parsed) with to's tokens, changing no other
// byte of it.
func patch(k kind, data []byte, to Login, now time.Time) ([]byte, error) {
	top, err := decodeObject(data, "the file")
	if err != nil {
		return nil, err
	}
	lay := layouts[k]
	sec := top
	if lay.section != "" {
		if sec, _, err = top.obj("", lay.section); err != nil {
			return nil, err
		}
	}
	var e edits
	e.set(data, sec, lay.access, quote(to.AccessToken))
	if to.RefreshToken != "" {
		e.set(data, sec, lay.refresh, quote(to.RefreshToken))
	}
	if lay.id != "" && to.IDToken != "" {
		e.set(data, sec, lay.id, quote(to.IDToken))
	}
	if lay.expiryMS != "" {
		e.set(data, sec, lay.expiryMS, []byte(strconv.FormatInt(int64(math.Round(to.ExpiresAt*1000)), 10)))
	}
	if k == kindCodex {
		if to.AccountID != "" {
			e.set(data, sec, codexAccountID, quote(to.AccountID))
		}
		e.set(data, top, codexLastRefresh, quote(now.UTC().Format(time.RFC3339Nano)))
	}
	return e.apply(data), nil
}

// writeAtomic replaces the regular file at path (following the user's
// symlinks to it) with data.
func writeAtomic(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", target, problemf(ErrBadFile, "not a regular file"))
	}
	return atomicfile.WriteFile(target, data, atomicfile.Options{Pattern: "." + filepath.Base(target) + ".credpool-*"})
}

// regularOrMissing refuses a lock path that is a symlink, FIFO or device:
// opening one could hang or lock a file credpool did not choose.
func regularOrMissing(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", path, problemf(ErrBadFile, "the lock is not a regular file (%s)", fileType(fi.Mode())))
	}
	return nil
}
