package authfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/credpool/credpool/internal/atomicfile"
	"github.com/credpool/credpool/internal/regularfile"
)

// write replaces auth.json atomically with what render writes (temp file
// in the target's directory, 0600, fsync, rename, fsync of the directory:
// atomicfile). A symlinked auth.json keeps its link; the target is
// replaced. A target that is not a regular file is never replaced
// (ErrNotRegular). When render fails the temp file is removed, auth.json is
// left as it is, and the error is returned as it is.
func (s *Store) write(render func(io.Writer) error) error {
	target, err := resolve(s.path)
	if err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	ensureDir(filepath.Dir(target))
	var own error // render's or the last look's: returned as they are
	_, err = atomicfile.Write(target, atomicfile.Options{Pattern: tempPattern,
		// Checked again just before the rename: something may have been
		// put there since the read (by a writer that ignores auth.lock).
		BeforeRename: func() error {
			if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
				own = notRegular(regularfile.NotRegular(target, fi.Mode()))
			}
			return own
		}},
		func(w io.Writer) (bool, error) {
			own = render(w)
			return true, own
		})
	switch {
	case own != nil:
		return own
	case err != nil:
		return fmt.Errorf("authfile: write: %w", err)
	}
	return nil
}

// ensureDir creates dir, and any missing parent, 0700. It never changes
// the mode of a directory that exists: the auth directory may be $HOME, or
// shared on purpose, and auth.json itself is 0600 anyway. Errors show up
// in the open or create that follows.
func ensureDir(dir string) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		// The umask can only narrow 0700 further.
		if err := os.Mkdir(missing[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return
		}
	}
}

// resolve follows symlinks from path to the file that holds the data, even
// when that file does not exist yet (a dangling link is written through).
func resolve(path string) (string, error) {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}
