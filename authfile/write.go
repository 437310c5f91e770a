package authfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// write replaces auth.json atomically with what render writes: temp file
// in the target's directory, 0600, fsync, rename, fsync of the directory. A
// symlinked auth.json keeps its link; the target is replaced. A target
// that is not a regular file is never replaced (ErrNotRegular). When
// render fails the temp file is removed, auth.json is left as it is, and
// the error is returned as it is.
func (s *Store) write(render func(io.Writer) error) error {
	target, err := resolve(s.path)
	if err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	dir := filepath.Dir(target)
	ensureDir(dir)
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, writeBuffer)
	if err := render(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	// Checked again just before the rename: something may have been put
	// there since the read (by a writer that ignores auth.lock).
	if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
		return notRegular(target, fi.Mode())
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("authfile: write: %w", err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("authfile: write: sync directory: %w", err)
	}
	return nil
}

// writeBuffer is the temp file's write buffer: large enough that a
// multi-megabyte document takes few write calls.
const writeBuffer = 64 << 10

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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
