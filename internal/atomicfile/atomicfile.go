// Package atomicfile replaces a file so that a reader sees the old content
// or the new, never a mix, and a crash leaves one of the two: a temp file in
// the same directory, 0600 from its creation, written, fsynced, renamed over
// the target, and the directory fsynced. It is the one such write in
// credpool (auth.json, credpool's state file, Hermes' spent-token ledger,
// another tool's login file, the service's unit file or plist).
//
// A symlink at the target is replaced by the file, not written through:
// callers that follow a chosen symlink resolve it first and pass the
// target.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Options tune a write. The zero value writes a 0600 file through a temp
// file named ".<base>.tmp-*".
type Options struct {
	// Perm is the new file's mode; 0 means 0600.
	Perm os.FileMode
	// Pattern names the temp file (an os.CreateTemp pattern), so that a
	// caller can find the leftovers of a killed write.
	Pattern string
	// BeforeRename runs after the temp file is on disk and just before the
	// rename; its error leaves the target alone and is returned as it is
	// (a last look at what is there now).
	BeforeRename func() error
}

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, o Options) error {
	_, err := Write(path, o, func(w io.Writer) (bool, error) {
		_, err := w.Write(data)
		return true, err
	})
	return err
}

// Write replaces path with what render writes. When render returns false
// (nothing to change) or an error, the temp file is removed and path left
// alone; Write reports whether it replaced path. Errors of render and of
// BeforeRename are returned as they are; the others carry the path.
func Write(path string, o Options, render func(io.Writer) (bool, error)) (written bool, err error) {
	perm, pattern := o.Perm, o.Pattern
	if perm == 0 {
		perm = 0o600
	}
	if pattern == "" {
		pattern = "." + filepath.Base(path) + ".tmp-*"
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return false, err
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	keep, err := render(bw)
	if err != nil || !keep {
		return false, err
	}
	if err := bw.Flush(); err != nil {
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if o.BeforeRename != nil {
		if err := o.BeforeRename(); err != nil {
			return false, err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, err
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return true, fmt.Errorf("sync directory: %w", err)
	}
	return true, nil
}

// syncDir fsyncs a directory, so that a rename in it survives a crash.
// File systems that cannot (EINVAL, ENOTSUP) are not an error.
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
