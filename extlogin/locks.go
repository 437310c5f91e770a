package extlogin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// The tools' lock files, beside their credential files.
const (
	claudeLockName = ".credentials.lock"
	qwenLockName   = "oauth_creds.lock"
	// codex 0.171.0, as strace shows it saving a login: flock(LOCK_EX) on
	// auth.lock, then flock(LOCK_EX|LOCK_NB) on auth.json.lock, polled
	// until free; then a temp file .auth-XXXXXX renamed over auth.json.
	codexLockName     = "auth.lock"
	codexFileLockName = "auth.json.lock"
)

// Qwen Code's lock protocol (its SharedTokenManager): a lock file older
// than 10 s is stale; attempts start 100 ms apart and back off by half as
// much again each time, to 2 s at most.
const (
	qwenStaleLock     = 10 * time.Second
	qwenLockPoll      = 100 * time.Millisecond
	qwenLockPollLimit = 2 * time.Second
	flockPoll         = 10 * time.Millisecond
)

// lockSource takes src's tool's lock until ctx ends; unlock releases it.
func lockSource(ctx context.Context, src Source, now func() time.Time) (unlock func(), err error) {
	dir := src.Dir()
	switch src.kind {
	case kindClaude:
		return flockAll(ctx, filepath.Join(dir, claudeLockName))
	case kindCodex:
		return flockAll(ctx, filepath.Join(dir, codexLockName), filepath.Join(dir, codexFileLockName))
	case kindQwen:
		return qwenLock(ctx, filepath.Join(dir, qwenLockName), now)
	}
	return func() {}, nil // Gemini CLI takes no lock
}

// flockAll takes exclusive flocks on paths in order, creating the files
// (0600) as the tools do, and never removing them: removing a lock file
// lets two writers lock two different files.
func flockAll(ctx context.Context, paths ...string) (func(), error) {
	var held []*flock.Flock
	release := func() {
		for i := len(held) - 1; i >= 0; i-- {
			_ = held[i].Unlock()
			_ = held[i].Close()
		}
	}
	for _, p := range paths {
		if err := regularOrMissing(p); err != nil {
			release()
			return nil, err
		}
		fl := flock.New(p, flock.SetPermissions(0o600),
			flock.SetFlag(os.O_CREATE|os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC))
		ok, err := fl.TryLockContext(ctx, flockPoll)
		if !ok {
			_ = fl.Close()
			release()
			if err == nil {
				err = errors.New("not acquired")
			}
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		held = append(held, fl)
	}
	return release, nil
}

// qwenLock takes Qwen Code's lock: the lock file created with O_EXCL and
// holding a random id, removed after — if it still holds our id, so that a
// lock another process broke as stale and took is not removed by us.
func qwenLock(ctx context.Context, path string, now func() time.Time) (func(), error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(raw[:])
	poll := qwenLockPoll
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err == nil {
			_, werr := f.WriteString(id)
			cerr := f.Close()
			if werr != nil || cerr != nil {
				_ = os.Remove(path)
				return nil, errors.Join(werr, cerr)
			}
			return func() {
				if b, err := os.ReadFile(path); err == nil && string(b) == id {
					_ = os.Remove(path)
				}
			}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Lstat(path); err == nil && now().Sub(fi.ModTime()) > qwenStaleLock {
			// Moved aside first, as Qwen does, so that two breakers cannot
			// both remove a lock the first of them has just taken.
			stale := path + ".stale." + id
			if os.Rename(path, stale) == nil {
				_ = os.Remove(stale)
				continue
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		poll = min(poll*3/2, qwenLockPollLimit)
	}
}
